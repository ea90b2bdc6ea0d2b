package httpapi

import (
	"embed"
	"net/http"

	"github.com/telamentis/telamentis"
)

// docsUI is the /docs page: a small self-contained renderer of
// /openapi.json that needs no network access (no CDN).
//
//go:embed docsui
var docsUI embed.FS

var docsTypes = map[string]string{
	"docs.js":  "text/javascript; charset=utf-8",
	"docs.css": "text/css; charset=utf-8",
}

func docsHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	b, _ := docsUI.ReadFile("docsui/index.html")
	docsHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (s *Server) docsAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := docsTypes[name]
	if !ok {
		writeProblem(w, newProblem(http.StatusNotFound, telamentis.RequestIDFromContext(r.Context()), "no such file", nil))
		return
	}
	b, _ := docsUI.ReadFile("docsui/" + name)
	docsHeaders(w)
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}
