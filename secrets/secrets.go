// Package secrets loads credentials and keys from the environment or from
// files named by *_FILE variables, refuses empty, short and well-known
// placeholder values, and reloads them on SIGHUP. Values come back as
// telamentis.Secret, which prints as [redacted] in logs, errors, JSON and
// fmt verbs; nothing in this package ever puts a value in an error.
package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"

	"github.com/telamentis/telamentis"
)

// DefaultMinLen is the minimum length of a secret whose Spec sets none.
const DefaultMinLen = 16

// Spec describes one secret.
type Spec struct {
	// Name is the environment variable, e.g. "TELAMENTIS_MASTER_KEY"; the
	// file variant is Name+"_FILE".
	Name string
	// MinLen is the minimum length in bytes; 0 means DefaultMinLen.
	MinLen int
	// Optional lets the secret be absent (Load then returns a zero
	// Secret). A secret that is present is checked all the same.
	Optional bool
}

// Loader reads secrets. The zero Loader reads the process environment and
// refuses secret files readable by group or others.
type Loader struct {
	// LookupEnv replaces os.LookupEnv, for tests.
	LookupEnv func(string) (string, bool)
	// AllowGroupReadable admits secret files with group read permission
	// (never group write, never any permission for others). Kubernetes
	// secret volumes with fsGroup are mode 0440: set this there.
	AllowGroupReadable bool
}

// maxFileSize bounds a secret file; a larger file is a mistake.
const maxFileSize = 64 << 10

// Load reads the secret name with DefaultMinLen using the zero Loader.
func Load(name string) (telamentis.Secret, error) {
	return Loader{}.Load(Spec{Name: name})
}

// Load reads the secret described by s from the variable s.Name or from the
// file named by s.Name+"_FILE" (setting both is an error). A file must be a
// regular file not readable or writable by others; one trailing newline is
// removed. The value must be at least the minimum length and not a
// placeholder (see CheckValue). Errors name the variable, never the value.
func (l Loader) Load(s Spec) (telamentis.Secret, error) {
	lookup := l.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, inEnv := lookup(s.Name)
	path, inFile := lookup(s.Name + "_FILE")
	switch {
	case inEnv && inFile:
		return telamentis.Secret{}, fmt.Errorf("secrets: %s: both %s and %s_FILE are set; use one", s.Name, s.Name, s.Name)
	case inFile:
		var err error
		if v, err = l.readFile(path); err != nil {
			return telamentis.Secret{}, fmt.Errorf("secrets: %s_FILE: %w", s.Name, err)
		}
	case !inEnv:
		if s.Optional {
			return telamentis.Secret{}, nil
		}
		return telamentis.Secret{}, fmt.Errorf("secrets: %s: not set (set %s or %s_FILE)", s.Name, s.Name, s.Name)
	}
	min := s.MinLen
	if min == 0 {
		min = DefaultMinLen
	}
	if err := CheckValue(v, min); err != nil {
		return telamentis.Secret{}, fmt.Errorf("secrets: %s: %w", s.Name, err)
	}
	return telamentis.NewSecret(v), nil
}

func (l Loader) readFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", unwrapPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	perm := fi.Mode().Perm()
	allowed := fs.FileMode(0o700)
	if l.AllowGroupReadable {
		allowed |= 0o040
	}
	if perm&^allowed != 0 {
		return "", fmt.Errorf("file mode %04o is too open (want 0600 or 0400%s)", perm, map[bool]string{true: ", or 0440", false: ""}[l.AllowGroupReadable])
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", unwrapPath(err)
	}
	if len(b) > maxFileSize {
		return "", errors.New("file is larger than 64 KiB")
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	return s, nil
}

// unwrapPath keeps the operation and the OS error of a *fs.PathError; the
// path is the caller's and already named by the variable.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// placeholders are values people leave in configuration by mistake,
// compared case-insensitively after dropping punctuation.
var placeholders = map[string]bool{
	"changeme": true, "changeit": true, "secret": true, "password": true, "passwd": true,
	"test": true, "testing": true, "xxx": true, "example": true, "default": true,
	"admin": true, "todo": true, "fixme": true, "replaceme": true, "placeholder": true,
	"none": true, "null": true, "nil": true, "dummy": true, "sample": true, "foobar": true,
	"mysecret": true, "yoursecret": true, "secretkey": true, "apikey": true, "token": true,
	"letmein": true, "qwerty": true, "insecure": true, "notasecret": true,
}

// CheckValue reports why v is not acceptable as a secret: empty, shorter
// than min bytes, one character repeated, a template marker such as
// "<your key>" or "${KEY}", or a well-known placeholder ("changeme",
// "secret", "password", "test", "xxx", …) alone or repeated or followed
// by digits. The error never contains v.
func CheckValue(v string, min int) error {
	switch {
	case v == "":
		return errors.New("empty")
	case strings.TrimSpace(v) != v:
		return errors.New("has leading or trailing white space")
	case len(v) < min:
		return fmt.Errorf("shorter than %d bytes", min)
	case allSame(v):
		return errors.New("one repeated character")
	case isTemplate(v):
		return errors.New("looks like a template placeholder")
	case isPlaceholder(v):
		return errors.New("is a well-known placeholder")
	}
	return nil
}

func allSame(v string) bool {
	for i := 1; i < len(v); i++ {
		if v[i] != v[0] {
			return false
		}
	}
	return true
}

func isTemplate(v string) bool {
	return strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") ||
		strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") ||
		strings.HasPrefix(v, "{{") && strings.HasSuffix(v, "}}") ||
		strings.HasPrefix(v, "%") && strings.HasSuffix(v, "%")
}

// isPlaceholder normalises v to lowercase letters and digits, drops
// trailing digits, and looks the rest up, alone or repeated.
func isPlaceholder(v string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(v) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	n := strings.TrimRightFunc(b.String(), unicode.IsDigit)
	if n == "" {
		return isDigitRun(b.String())
	}
	for p := range placeholders {
		if len(n)%len(p) == 0 && strings.Repeat(p, len(n)/len(p)) == n {
			return true
		}
	}
	return false
}

// isDigitRun reports an all-digit value counting up or down ("123456…").
func isDigitRun(s string) bool {
	up, down := true, true
	for i := 1; i < len(s); i++ {
		d := (int(s[i]) - int(s[i-1]) + 10) % 10
		up = up && d == 1
		down = down && d == 9
	}
	return up || down
}
