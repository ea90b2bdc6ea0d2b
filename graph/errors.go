package graph

import (
	"strconv"

	"github.com/telamentis/telamentis"
)

// The errors of the write rules. Each names every bad field; the message
// is the first field's (not_found, conflict) or "invalid <first field>"
// (invalid), like telamentis.Invalid.

// notFound is the error of an input field naming a record (what: "node",
// "edge") that is not live.
func notFound(what, field string) *telamentis.Error {
	msg := what + " not found"
	return &telamentis.Error{Code: telamentis.CodeNotFound, Message: msg, Fields: []telamentis.FieldError{{Field: field, Message: msg}}}
}

// aliasTaken is the error of an update giving a record the alias of
// another live record of its kind.
func aliasTaken(what string) *telamentis.Error {
	return &telamentis.Error{Code: telamentis.CodeConflict, Message: "alias belongs to another live " + what,
		Fields: []telamentis.FieldError{{Field: "alias", Message: "belongs to another live " + what}}}
}

// afterValidFrom is the error of a valid_to that is not after the edge's
// (given, kept or defaulted) valid_from.
func afterValidFrom() *telamentis.Error {
	return telamentis.Invalid("valid_to", "must be after valid_from")
}

// fieldList collects the invalid fields of one item.
type fieldList []telamentis.FieldError

func (f *fieldList) add(field, msg string) {
	*f = append(*f, telamentis.FieldError{Field: field, Message: msg})
}

func (f fieldList) invalid() *telamentis.Error {
	return &telamentis.Error{Code: telamentis.CodeInvalid, Message: "invalid " + f[0].Field, Fields: f}
}

// batchErrors collects the errors of a batch's bad items by position.
type batchErrors struct {
	fields []telamentis.FieldError
	code   telamentis.Code
	items  int
}

// add records the error of item i of list ("nodes", "edges"), its fields
// prefixed with the item's position: "edges[3].valid_to".
func (b *batchErrors) add(list string, i int, err error) {
	prefix := list + "[" + strconv.Itoa(i) + "]"
	fs := telamentis.ErrorFields(err)
	if len(fs) == 0 {
		b.fields = append(b.fields, telamentis.FieldError{Field: prefix, Message: telamentis.ErrorMessage(err)})
	}
	for _, f := range fs {
		name := prefix
		if f.Field != "" {
			name += "." + f.Field
		}
		b.fields = append(b.fields, telamentis.FieldError{Field: name, Message: f.Message})
	}
	switch c := telamentis.ErrorCode(err); {
	case b.items == 0:
		b.code = c
	case c != b.code:
		b.code = telamentis.CodeInvalid
	}
	b.items++
}

// err returns the batch's error: the code every bad item has, or invalid
// when their codes differ; a message counting the bad items; and every
// bad field, items in position order (nodes, then edges), each item's
// fields in the order of its input's fields.
func (b *batchErrors) err() error {
	if b.items == 0 {
		return nil
	}
	msg := strconv.Itoa(b.items) + " bad batch items"
	if b.items == 1 {
		msg = "1 bad batch item"
	}
	return &telamentis.Error{Code: b.code, Message: msg, Fields: b.fields}
}
