package metrics

import (
	"fmt"
	"html"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"
)

// The profiling endpoints are written against runtime/pprof directly rather
// than importing net/http/pprof, whose init registers the same handlers on
// http.DefaultServeMux: any code that ever serves the default mux would then
// expose profiles on the API port. The paths and formats are those of
// net/http/pprof, so `go tool pprof http://…/debug/pprof/heap` works. The
// command line (/debug/pprof/cmdline) is deliberately not served.

func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/{$}", pprofIndex)
	mux.HandleFunc("GET /debug/pprof/profile", pprofCPU)
	mux.HandleFunc("GET /debug/pprof/trace", pprofTrace)
	mux.HandleFunc("GET /debug/pprof/{name}", pprofNamed)
}

func pprofIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<html><head><title>/debug/pprof/</title></head><body><p>profiles:</p><ul>")
	for _, p := range pprof.Profiles() {
		n := html.EscapeString(p.Name())
		fmt.Fprintf(w, `<li><a href="%s?debug=1">%s</a> (%d)</li>`, n, n, p.Count())
	}
	fmt.Fprint(w, `<li><a href="profile?seconds=30">profile</a> (CPU, 30 s)</li>`)
	fmt.Fprint(w, `<li><a href="trace?seconds=1">trace</a> (execution trace, 1 s)</li>`)
	fmt.Fprint(w, "</ul><p>goroutine?debug=2 gives full stacks.</p></body></html>")
}

func seconds(r *http.Request, def, max int) (time.Duration, error) {
	s := r.URL.Query().Get("seconds")
	if s == "" {
		return time.Duration(def) * time.Second, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > max {
		return 0, fmt.Errorf("seconds must be an integer in [1, %d]", max)
	}
	return time.Duration(n) * time.Second, nil
}

func pprofNamed(w http.ResponseWriter, r *http.Request) {
	p := pprof.Lookup(r.PathValue("name"))
	if p == nil {
		http.Error(w, "unknown profile", http.StatusNotFound)
		return
	}
	debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
	if p.Name() == "heap" && r.URL.Query().Get("gc") != "" {
		runtime.GC()
	}
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+p.Name()+`"`)
	}
	if err := p.WriteTo(w, debug); err != nil {
		http.Error(w, "profile failed", http.StatusInternalServerError)
	}
}

func pprofCPU(w http.ResponseWriter, r *http.Request) {
	d, err := seconds(r, 30, 300)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	if err := pprof.StartCPUProfile(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "a CPU profile is already running", http.StatusConflict)
		return
	}
	wait(r, d)
	pprof.StopCPUProfile()
}

func pprofTrace(w http.ResponseWriter, r *http.Request) {
	d, err := seconds(r, 1, 60)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="trace"`)
	if err := trace.Start(w); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "a trace is already running", http.StatusConflict)
		return
	}
	wait(r, d)
	trace.Stop()
}

// wait sleeps for d or until the client goes away.
func wait(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}
