package httpapi

import (
	"io"
	"net/http"
	"time"
)

// StreamIdleTimeout bounds how long a streaming request (ingest, import,
// export) may go without progress. The server's ReadTimeout and WriteTimeout
// bound a whole request, which would cut a long but healthy stream; a stream
// instead pushes its connection deadlines forward each time it moves data,
// so a client that stalls is still cut off after this long.
const StreamIdleTimeout = 60 * time.Second

// streamDeadlines extends the deadlines of one streaming request. Writers
// that cannot set deadlines (a test recorder) are left alone.
type streamDeadlines struct {
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
}

func newStreamDeadlines(w http.ResponseWriter) *streamDeadlines {
	return &streamDeadlines{rc: http.NewResponseController(w), idle: StreamIdleTimeout}
}

// reader returns body with its read deadline pushed forward on every read.
func (d *streamDeadlines) reader(body io.Reader) io.Reader {
	return &deadlineReader{r: body, d: d}
}

// extendWrite pushes the write deadline forward; call it before each chunk
// of a response and before a summary written after a long read.
func (d *streamDeadlines) extendWrite() {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
}

func (d *streamDeadlines) extendRead() {
	now := time.Now()
	if now.Sub(d.last) < time.Second/4 {
		return // a recent extension still holds; spare the timer update
	}
	d.last = now
	_ = d.rc.SetReadDeadline(now.Add(d.idle))
}

type deadlineReader struct {
	r io.Reader
	d *streamDeadlines
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	r.d.extendRead()
	return r.r.Read(p)
}
