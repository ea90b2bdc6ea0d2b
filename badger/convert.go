package badger

import (
	"unsafe"

	"github.com/telamentis/telamentis"
)

// Conversions of index records into the domain's records, for answers.

// toNode returns version v of r as a telamentis.Node. A close after vis
// (the reader's watermark) is not committed yet and shows as open.
func toNode(r *nodeRec, v *nodeVer, vis int64) telamentis.Node {
	txEnd := v.txEnd
	if txEnd > vis {
		txEnd = open
	}
	return telamentis.Node{
		ID:      r.idStr,
		Alias:   v.alias,
		Label:   v.label,
		Props:   []byte(v.props),
		TxStart: telamentis.FromMicros(v.txStart),
		TxEnd:   telamentis.FromMicros(txEnd),
	}
}

func toEdge(r *edgeRec, v *edgeVer, vis int64) telamentis.Edge {
	txEnd := v.txEnd
	if txEnd > vis {
		txEnd = open
	}
	return telamentis.Edge{
		ID:        r.id.String(),
		Alias:     v.alias,
		From:      r.from.idStr,
		To:        r.to.idStr,
		Kind:      v.kind,
		Props:     []byte(v.props),
		ValidFrom: telamentis.FromMicros(v.vf),
		ValidTo:   telamentis.FromMicros(v.vt),
		TxStart:   telamentis.FromMicros(v.txStart),
		TxEnd:     telamentis.FromMicros(txEnd),
	}
}

// hexPairs holds the two hex digits of every byte value.
const hexPairs = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f" +
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" +
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf" +
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

// hexPos is where each ID byte's digits go in the canonical string form.
var hexPos = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// putIDHex writes the canonical string form of id into b[:36].
func putIDHex(b []byte, id id16) {
	_ = b[35]
	for i, c := range id {
		p := hexPos[i]
		b[p], b[p+1] = hexPairs[2*int(c)], hexPairs[2*int(c)+1]
	}
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
}

// edgesOut converts a page of edge versions, sharing one allocation for
// all their ID strings and one for all their props.
func edgesOut(recs []*edgeRec, vers []*edgeVer, vis int64) []telamentis.Edge {
	out := make([]telamentis.Edge, len(recs))
	n := 0
	for _, v := range vers {
		n += len(v.props)
	}
	props := make([]byte, 0, n)
	// All IDs of the page in one string.
	idb := make([]byte, 3*36*len(recs))
	for i, r := range recs {
		o := 3 * 36 * i
		putIDHex(idb[o:], r.id)
		putIDHex(idb[o+36:], r.from.id)
		putIDHex(idb[o+72:], r.to.id)
	}
	ids := unsafe.String(unsafe.SliceData(idb), len(idb)) // idb is not written again
	for i := range recs {
		v := vers[i]
		txEnd := v.txEnd
		if txEnd > vis {
			txEnd = open
		}
		start := len(props)
		props = append(props, v.props...)
		e := &out[i]
		o := 3 * 36 * i
		e.ID = ids[o : o+36]
		e.Alias = v.alias
		e.From = ids[o+36 : o+72]
		e.To = ids[o+72 : o+108]
		e.Kind = v.kind
		e.Props = props[start:len(props):len(props)]
		e.ValidFrom = telamentis.FromMicros(v.vf)
		e.ValidTo = telamentis.FromMicros(v.vt)
		e.TxStart = telamentis.FromMicros(v.txStart)
		e.TxEnd = telamentis.FromMicros(txEnd)
	}
	return out
}

// kindHit is a kind-list entry that matched a query, with the list's kind.
type kindHit struct {
	e    *kindEntry
	kind string
}

// kindEdgesOut converts a page of kind-list hits read at T. An entry that
// describes the version visible at T (the usual case: current reads)
// supplies the whole row, so the edge records are not touched; older reads,
// aliases and kinds changed by the latest version read the edge. Like
// edgesOut, the page shares one allocation for its ID strings and one for
// its props, which are copied: callers may modify the returned bytes.
func kindEdgesOut(hits []kindHit, T, vis int64) []telamentis.Edge {
	out := make([]telamentis.Edge, len(hits))
	idb := make([]byte, 3*36*len(hits))
	n := 0
	for _, h := range hits {
		n += len(h.e.props)
	}
	props := make([]byte, 0, n+64)
	for i, h := range hits {
		e := h.e
		o := 3 * 36 * i
		e2 := &out[i]
		if T >= e.txStart && e.sameKind && !e.aliased {
			putIDHex(idb[o:], e.id)
			putIDHex(idb[o+36:], e.fromID)
			putIDHex(idb[o+72:], e.toID)
			txEnd := e.txEnd
			if txEnd > vis {
				txEnd = open
			}
			start := len(props)
			props = append(props, e.props...)
			e2.Kind = h.kind
			e2.Props = props[start:len(props):len(props)]
			e2.ValidFrom = telamentis.FromMicros(e.vf)
			e2.ValidTo = telamentis.FromMicros(e.vt)
			e2.TxStart = telamentis.FromMicros(e.txStart)
			e2.TxEnd = telamentis.FromMicros(txEnd)
			continue
		}
		r := e.r
		v := r.at(T)
		putIDHex(idb[o:], r.id)
		putIDHex(idb[o+36:], r.from.id)
		putIDHex(idb[o+72:], r.to.id)
		txEnd := v.txEnd
		if txEnd > vis {
			txEnd = open
		}
		start := len(props)
		props = append(props, v.props...)
		e2.Alias = v.alias
		e2.Kind = v.kind
		e2.Props = props[start:len(props):len(props)]
		e2.ValidFrom = telamentis.FromMicros(v.vf)
		e2.ValidTo = telamentis.FromMicros(v.vt)
		e2.TxStart = telamentis.FromMicros(v.txStart)
		e2.TxEnd = telamentis.FromMicros(txEnd)
	}
	ids := unsafe.String(unsafe.SliceData(idb), len(idb)) // idb is not written again
	for i := range out {
		o := 3 * 36 * i
		out[i].ID = ids[o : o+36]
		out[i].From = ids[o+36 : o+72]
		out[i].To = ids[o+72 : o+108]
	}
	return out
}
