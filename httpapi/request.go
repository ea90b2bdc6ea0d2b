package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"path"

	"github.com/telamentis/telamentis"
)

// readBody reads r's body up to limit+1 bytes, into one buffer of the
// announced length when there is one (io.ReadAll's growth would allocate
// several times the body).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength < 0 {
		var b bytes.Buffer
		_, err := b.ReadFrom(io.LimitReader(r.Body, limit+1))
		return b.Bytes(), err
	}
	body := make([]byte, r.ContentLength, r.ContentLength+1)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	// A body longer than announced: net/http's server refuses it, a
	// handler called another way may not.
	if n, _ := r.Body.Read(body[len(body):cap(body)]); n > 0 {
		return nil, errors.New("httpapi: body longer than its Content-Length")
	}
	return body, nil
}

// cleanPaths answers a path that is not in its clean form ("//", "/./",
// "/../", a trailing "/." or "/..") like any unknown route: 404, a
// problem with the request id. Go's ServeMux would answer it with an HTML
// 307 redirect to the cleaned path, which is no route of this API and
// would make the API follow paths a client never named.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); cleanPath(p) != p {
			writeProblem(w, newProblem(http.StatusNotFound, telamentis.RequestIDFromContext(r.Context()), "no such route", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is the clean form of a path, as ServeMux computes it before
// it redirects: path.Clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
