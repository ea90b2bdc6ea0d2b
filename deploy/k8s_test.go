package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"go.yaml.in/yaml/v4"
)

// manifests holds the decoded objects of k8s/.
type manifests struct {
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	services   []*corev1.Service
	policies   []*networkingv1.NetworkPolicy
	files      []string
}

// loadK8s decodes every document of k8s/*.yaml but the kustomization with
// the API types, strictly: an unknown or duplicate field is an error.
func loadK8s(t *testing.T) manifests {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decode := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer().Decode
	paths, _ := filepath.Glob("k8s/*.yaml")
	var m manifests
	for _, path := range paths {
		if filepath.Base(path) == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, filepath.Base(path))
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader([]byte(readFile(t, path)))))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, _, err := decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployment = o
			case *corev1.ConfigMap:
				m.configMap = o
			case *corev1.Service:
				m.services = append(m.services, o)
			case *networkingv1.NetworkPolicy:
				m.policies = append(m.policies, o)
			}
		}
	}
	if m.deployment == nil || m.configMap == nil {
		t.Fatal("k8s/ has no Deployment or no ConfigMap")
	}
	return m
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l...)
		}
	}
	return out
}

// TestKustomizationListsEveryManifest: kubectl apply -k applies them all.
func TestKustomizationListsEveryManifest(t *testing.T) {
	var k struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Namespace  string   `yaml:"namespace"`
		Resources  []string `yaml:"resources"`
		Labels     []any    `yaml:"labels"`
	}
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, "k8s/kustomization.yaml")))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatal(err)
	}
	m := loadK8s(t)
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if !slices.Equal(got, m.files) || k.Kind != "Kustomization" || k.Namespace != "telamentis" {
		t.Fatalf("kustomization: %s %s resources %v, files %v", k.Kind, k.Namespace, got, m.files)
	}
}

// TestK8sServerConfig feeds the ConfigMap's config, the Deployment's
// environment and secret files mounted 0440 (fsGroup) to `telamentis
// config check`, and checks the Deployment against the result: ports,
// probes, volumes at the configured paths.
func TestK8sServerConfig(t *testing.T) {
	m := loadK8s(t)
	c := container(t, m.deployment)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "telamentis.yaml")
	if err := os.WriteFile(cfgFile, []byte(m.configMap.Data["telamentis.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		if e.ValueFrom != nil {
			t.Errorf("env %s comes from a reference: secrets are files", e.Name)
			continue
		}
		if secretish(e.Name) && !strings.HasSuffix(e.Name, "_FILE") {
			t.Errorf("env %s holds a secret inline", e.Name)
			continue
		}
		env[e.Name] = e.Value
		if strings.HasSuffix(e.Name, "_FILE") {
			if !underMount(c, e.Value, true) {
				t.Errorf("env %s: %s is not on a read-only volume", e.Name, e.Value)
			}
			file := filepath.Join(dir, strings.TrimSuffix(e.Name, "_FILE"))
			if err := os.WriteFile(file, []byte(secretValue(e.Name)), 0o440); err != nil {
				t.Fatal(err)
			}
			env[e.Name] = file
		}
	}
	documented(t, "deployment.yaml", names)
	if i := slices.Index(c.Args, "--config"); i < 0 || c.Args[i+1] != "/etc/telamentis/telamentis.yaml" || !underMount(c, c.Args[i+1], true) {
		t.Errorf("args %v do not name the mounted ConfigMap", c.Args)
	}
	out := checkConfig(t, cfgFile, env)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := int32(settingPort(t, out, "listen")); ports["https"] != want {
		t.Errorf("container port https %d, listen port %d", ports["https"], want)
	}
	if want := int32(settingPort(t, out, "admin_listen")); ports["admin"] != want {
		t.Errorf("container port admin %d, admin_listen port %d", ports["admin"], want)
	}
	tlsOn := strings.Contains(out, "\ntls_cert_file: /")
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: none", name)
			continue
		}
		g := p.HTTPGet
		if (g.Path != "/healthz" && g.Path != "/readyz") || (name == "readiness") != (g.Path == "/readyz") {
			t.Errorf("%s probe GETs %s", name, g.Path)
		}
		if g.Port.StrVal != "https" || (g.Scheme == corev1.URISchemeHTTPS) != tlsOn {
			t.Errorf("%s probe: port %v scheme %s, TLS on %v", name, g.Port.String(), g.Scheme, tlsOn)
		}
	}
	for _, key := range []string{"data", "audit_dir", "tls_cert_file"} {
		if path := settingValue(t, out, key); !underMount(c, path, key == "tls_cert_file") {
			t.Errorf("%s %s is on no volume", key, path)
		}
	}
}

// TestK8sPodSecurity: non-root, read-only root, no privilege escalation,
// no capabilities, default seccomp, resources bounded, no token mounted.
func TestK8sPodSecurity(t *testing.T) {
	m := loadK8s(t)
	pod := m.deployment.Spec.Template.Spec
	c := container(t, m.deployment)
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Errorf("%d containers, %d init containers", len(pod.Containers), len(pod.InitContainers))
	}
	ps := pod.SecurityContext
	if ps == nil || !isTrue(ps.RunAsNonRoot) || ps.RunAsUser == nil || *ps.RunAsUser == 0 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", ps)
	}
	cs := c.SecurityContext
	if cs == nil || !isTrue(cs.ReadOnlyRootFilesystem) || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
		!isTrue(cs.RunAsNonRoot) || cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") || len(cs.Capabilities.Add) > 0 ||
		(cs.Privileged != nil && *cs.Privileged) {
		t.Errorf("container security context %+v", cs)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/telamentis/telamentis") {
		t.Errorf("image %s is not the image deploy/Dockerfile builds", c.Image)
	}
	if m.deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || m.deployment.Spec.Replicas == nil || *m.deployment.Spec.Replicas != 1 {
		t.Error("the embedded store needs one replica, replaced with Recreate")
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0) {
			t.Errorf("secret volume %s is readable beyond its owner (+ fsGroup)", v.Name)
		}
	}
}

// TestK8sNetwork: a default-deny policy, one admitting exactly the API and
// admin ports to the server's pods, and Services that reach named ports.
func TestK8sNetwork(t *testing.T) {
	m := loadK8s(t)
	c := container(t, m.deployment)
	podLabels := m.deployment.Spec.Template.Labels
	var denyAll, server bool
	for _, p := range m.policies {
		types := p.Spec.PolicyTypes
		both := slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress)
		switch {
		case len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 && both:
			denyAll = true
		case matches(p.Spec.PodSelector.MatchLabels, podLabels) && both:
			server = true
			var ports []int32
			for _, rule := range p.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("%s admits ingress from anywhere", p.Name)
				}
				for _, port := range rule.Ports {
					ports = append(ports, port.Port.IntVal)
				}
			}
			sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
			var want []int32
			for _, cp := range c.Ports {
				want = append(want, cp.ContainerPort)
			}
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
			if !slices.Equal(ports, want) {
				t.Errorf("%s admits ports %v, the container has %v", p.Name, ports, want)
			}
		}
	}
	if !denyAll || !server {
		t.Errorf("network policies: default deny %v, server %v", denyAll, server)
	}
	for _, s := range m.services {
		if !matches(s.Spec.Selector, podLabels) {
			t.Errorf("service %s selects no server pod", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }) {
				t.Errorf("service %s targets port %q, which the container does not name", s.Name, p.TargetPort.String())
			}
		}
	}
}

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "telamentis" {
			return c
		}
	}
	t.Fatal("no telamentis container")
	return corev1.Container{}
}

// underMount reports whether path lies on one of c's volume mounts (a
// read-only one if readOnly).
func underMount(c corev1.Container, path string, readOnly bool) bool {
	for _, vm := range c.VolumeMounts {
		if (path == vm.MountPath || strings.HasPrefix(path, vm.MountPath+"/")) && (!readOnly || vm.ReadOnly) {
			return true
		}
	}
	return false
}

func settingValue(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return v
		}
	}
	t.Fatalf("config check prints no %s", key)
	return ""
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }
