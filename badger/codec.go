package badger

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/google/uuid"

	"github.com/telamentis/telamentis"
)

// id16 is a node or edge ID in binary form.
type id16 [16]byte

// less orders IDs bytewise, which for canonical UUIDs is the order of their
// string forms.
func (a id16) less(b id16) bool {
	x0, y0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if x0 != y0 {
		return x0 < y0
	}
	return binary.BigEndian.Uint64(a[8:]) < binary.BigEndian.Uint64(b[8:])
}

func (a id16) String() string { return uuid.UUID(a).String() }

func cmpID(a, b id16) int {
	switch {
	case a == b:
		return 0
	case a.less(b):
		return -1
	}
	return 1
}

var errBadID = errors.New("bad id")

// parseID parses a canonical lowercase UUID (telamentis.ParseID).
func parseID(s string) (id16, error) {
	id, ok := telamentis.ParseID(s)
	if !ok {
		return id16{}, errBadID
	}
	return id, nil
}

func newID() (id16, error) {
	u, err := uuid.NewV7()
	return id16(u), err
}

// Keys. The graph keyspace of a tenant is "g" tenant 0x00, then 'n' or 'e',
// the 16-byte ID and the version's tx_start (8 bytes, order-preserving).
// The system keyspace is "s" 0x00 and a record type.
const (
	tagNode = 'n'
	tagEdge = 'e'
)

var (
	sysTenantPrefix = []byte("s\x00t")
	sysWrapPrefix   = []byte("s\x00w")
	sysKeyPrefix    = []byte("s\x00k")
	graphPrefixAll  = []byte("g")
)

func tenantPrefix(tenant string) []byte {
	b := make([]byte, 0, len(tenant)+2)
	b = append(b, 'g')
	b = append(b, tenant...)
	return append(b, 0)
}

func tagPrefix(tenant string, tag byte) []byte {
	return append(tenantPrefix(tenant), tag)
}

func versionKey(tenant string, tag byte, id id16, txStart int64) []byte {
	return appendVersionKey(make([]byte, 0, versionKeyLen(tenant)), tenant, tag, id, txStart)
}

func versionKeyLen(tenant string) int { return len(tenant) + 3 + 16 + 8 }

func appendVersionKey(b []byte, tenant string, tag byte, id id16, txStart int64) []byte {
	b = append(b, 'g')
	b = append(b, tenant...)
	b = append(b, 0, tag)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(txStart)^(1<<63))
}

// splitVersionKey returns the ID and tx_start of a version key whose prefix
// (of length plen) was already matched.
func splitVersionKey(k []byte, plen int) (id16, int64, bool) {
	var id id16
	if len(k) != plen+16+8 {
		return id, 0, false
	}
	copy(id[:], k[plen:plen+16])
	return id, int64(binary.BigEndian.Uint64(k[plen+16:]) ^ (1 << 63)), true
}

// Node value: version byte, tx_end (8), label, alias (uvarint length +
// bytes), props (rest).
// Edge value: version byte, tx_end (8), from (16), to (16), valid_from (8),
// valid_to (8), kind, alias (uvarint length + bytes), props (rest).
const valueVersion = 1

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readStr(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

func encodeNode(v *nodeVer) []byte { return appendNode(make([]byte, 0, nodeLen(v)), v) }

func nodeLen(v *nodeVer) int { return 1 + 8 + 4 + len(v.label) + len(v.alias) + len(v.props) }

func appendNode(b []byte, v *nodeVer) []byte {
	b = append(b, valueVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(v.txEnd))
	b = appendStr(b, v.label)
	b = appendStr(b, v.alias)
	return append(b, v.props...)
}

var errCorrupt = errors.New("corrupt record")

// readBytes is readStr without the copy.
func readBytes(b []byte) ([]byte, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// decodeNodeInterned is decodeNode with the label interned through intern,
// which must not keep its argument.
func decodeNodeInterned(b []byte, v *nodeVer, intern func([]byte) string, props *strArena) error {
	if len(b) < 9 || b[0] != valueVersion {
		return errCorrupt
	}
	v.txEnd = int64(binary.BigEndian.Uint64(b[1:9]))
	label, rest, ok := readBytes(b[9:])
	if !ok {
		return errCorrupt
	}
	v.label = intern(label)
	if v.alias, rest, ok = readStr(rest); !ok {
		return errCorrupt
	}
	v.props = props.add(rest)
	return nil
}

// decodeEdgeInterned is decodeEdge with the kind interned.
func decodeEdgeInterned(b []byte, from, to *id16, v *edgeVer, intern func([]byte) string, props *kindArenas) error {
	if len(b) < 57 || b[0] != valueVersion {
		return errCorrupt
	}
	v.txEnd = int64(binary.BigEndian.Uint64(b[1:9]))
	copy(from[:], b[9:25])
	copy(to[:], b[25:41])
	v.vf = int64(binary.BigEndian.Uint64(b[41:49]))
	v.vt = int64(binary.BigEndian.Uint64(b[49:57]))
	kind, rest, ok := readBytes(b[57:])
	if !ok {
		return errCorrupt
	}
	v.kind = intern(kind)
	if v.alias, rest, ok = readStr(rest); !ok {
		return errCorrupt
	}
	v.props = props.get(v.kind).add(rest)
	return nil
}

func encodeEdge(from, to id16, v *edgeVer) []byte {
	return appendEdge(make([]byte, 0, edgeLen(v)), from, to, v)
}

func edgeLen(v *edgeVer) int { return 1 + 8 + 32 + 16 + 4 + len(v.kind) + len(v.alias) + len(v.props) }

func appendEdge(b []byte, from, to id16, v *edgeVer) []byte {
	b = append(b, valueVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(v.txEnd))
	b = append(b, from[:]...)
	b = append(b, to[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(v.vf))
	b = binary.BigEndian.AppendUint64(b, uint64(v.vt))
	b = appendStr(b, v.kind)
	b = appendStr(b, v.alias)
	return append(b, v.props...)
}

// strArena copies strings into large chunks, so that loading or importing
// many versions makes a few allocations instead of one per props value,
// and the props of records loaded together (in ID order) sit next to each
// other in memory. A chunk's bytes are never written again once handed
// out; a chunk lives as long as any of its strings.
type strArena struct{ buf []byte }

// add returns a string with b's bytes; a nil arena allocates normally.
func (a *strArena) add(b []byte) string {
	if a == nil || len(b) > 4<<10 {
		return string(b)
	}
	if len(b) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, 256<<10)
	}
	l := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[l], len(b))
}

// kindArenas keeps a strArena per edge kind, so that the props of a kind's
// edges, which kind scans read in ID order, sit next to each other rather
// than interleaved with other kinds' (a cache miss per row on large lists).
type kindArenas struct {
	last string
	a    *strArena
	m    map[string]*strArena
}

func (k *kindArenas) get(kind string) *strArena {
	if k.a != nil && kind == k.last {
		return k.a
	}
	if k.m == nil {
		k.m = map[string]*strArena{}
	}
	a := k.m[kind]
	if a == nil {
		a = &strArena{}
		k.m[kind] = a
	}
	k.last, k.a = kind, a
	return a
}

// bump hands out byte slices from large chunks, so a big import makes a few
// allocations instead of two per version.
type bump struct{ buf []byte }

// take returns an empty slice with capacity n.
func (b *bump) take(n int) []byte {
	if cap(b.buf)-len(b.buf) < n {
		b.buf = make([]byte, 0, max(256<<10, n))
	}
	l := len(b.buf)
	b.buf = b.buf[:l+n]
	return b.buf[l : l : l+n]
}
