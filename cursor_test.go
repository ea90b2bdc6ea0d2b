package telamentis

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	c := NewCursorCodec(bytes.Repeat([]byte{7}, 32))
	q := Query{Kind: QueryNodes, Labels: []string{"P"}, Limit: 10}
	for _, pos := range [][]byte{nil, {0}, []byte("node:0190a1b2"), bytes.Repeat([]byte{0xff}, MaxCursorPosition)} {
		cur := c.Seal("acme", q, pos)
		got, err := c.Open("acme", q, cur)
		if err != nil || !bytes.Equal(got, pos) {
			t.Errorf("Open(Seal(%x)) = %x, %v", pos, got, err)
		}
		if strings.ContainsAny(cur, "+/=") {
			t.Errorf("cursor %q is not unpadded base64url", cur)
		}
	}
	// The page size and the cursor itself are not part of the binding.
	cur := c.Seal("acme", q, []byte("p"))
	q2 := q
	q2.Limit, q2.Cursor = 500, cur
	if _, err := c.Open("acme", q2, cur); err != nil {
		t.Errorf("a cursor continues its query with another limit: %v", err)
	}
}

func TestCursorRejects(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c := NewCursorCodec(key)
	q := Query{Kind: QueryEdges, Kinds: []string{"K"}}
	pos := []byte("edge:0190a1b2-c3d4")
	cur := c.Seal("acme", q, pos)
	bad := func(what, tenant string, q Query, cursor string) {
		t.Helper()
		_, err := c.Open(tenant, q, cursor)
		fs := ErrorFields(err)
		if ErrorCode(err) != CodeInvalid || len(fs) != 1 || fs[0].Field != "cursor" {
			t.Errorf("%s: Open = %v, want invalid naming cursor", what, err)
		}
	}
	raw, _ := base64.RawURLEncoding.DecodeString(cur)
	for i := range raw {
		for _, bit := range []byte{1, 0x80} {
			b := bytes.Clone(raw)
			b[i] ^= bit
			bad("flipped bit in byte "+strconv.Itoa(i), "acme", q, base64.RawURLEncoding.EncodeToString(b))
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Every other character at every position fails, including those that
	// change only the unused low bits of the last character: a cursor has
	// exactly one spelling.
	for i := range cur {
		for _, r := range []byte(alphabet) {
			if cur[i] == r {
				continue
			}
			b := []byte(cur)
			b[i] = r
			bad("changed character "+strconv.Itoa(i)+" to "+string(r), "acme", q, string(b))
		}
	}
	bad("with a newline", "acme", q, cur[:5]+"\n"+cur[5:])
	bad("with a carriage return", "acme", q, cur+"\r")
	bad("truncated", "acme", q, cur[:len(cur)-1])
	bad("extended", "acme", q, cur+"A")
	bad("dropped position byte", "acme", q, base64.RawURLEncoding.EncodeToString(raw[1:]))
	bad("padded", "acme", q, base64.URLEncoding.EncodeToString(raw))
	bad("standard alphabet", "acme", q, strings.NewReplacer("-", "+", "_", "/").Replace(cur)+"+")
	bad("empty", "acme", q, "")
	bad("garbage", "acme", q, "%%%")
	bad("too short for a MAC", "acme", q, base64.RawURLEncoding.EncodeToString(raw[:15]))
	bad("too long", "acme", q, c.Seal("acme", q, make([]byte, MaxCursorPosition+1)))
	bad("another tenant", "globex", q, cur)
	bad("another key", "acme", q, NewCursorCodec(bytes.Repeat([]byte{8}, 32)).Seal("acme", q, pos))
	for name, other := range map[string]Query{
		"another kind":    {Kind: QueryNodes, Kinds: []string{"K"}},
		"another filter":  {Kind: QueryEdges, Kinds: []string{"L"}},
		"a filter added":  {Kind: QueryEdges, Kinds: []string{"K"}, From: &Ref{Alias: "a"}},
		"an as_at":        {Kind: QueryEdges, Kinds: []string{"K"}, AsAt: FromMicros(1)},
		"a valid time":    {Kind: QueryEdges, Kinds: []string{"K"}, ValidAt: FromMicros(1)},
		"a filter gone":   {Kind: QueryEdges},
		"direction given": {Kind: QueryEdges, Kinds: []string{"K"}, Direction: DirIn},
	} {
		bad(name, "acme", other, cur)
	}
	// Tenant and query are length-prefixed: moving bytes between them
	// does not produce the same MAC.
	c2 := c.Seal("ab", Query{Kind: "c"}, nil)
	bad("tenant/query boundary", "a", Query{Kind: "bc"}, c2)
}
