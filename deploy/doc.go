// Package deploy holds no code: it is the home of the tests that check the
// deployment files beside it offline — the container image's default
// configuration, compose.yaml with its init script, and the Kubernetes
// manifests in k8s/ — by parsing them with the Compose specification's and
// Kubernetes' own Go types and feeding their settings to the real server
// binary's `config check`. No Docker engine or cluster is needed.
//
// Only tests import the Compose and Kubernetes modules, so the server
// binary does not link them (TestServerBinaryLinksNoDeployModules).
package deploy
