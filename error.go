package telamentis

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error. The set is closed: transports map each code to a
// status (HTTP 400, 404, 409, …) and clients match on it, never on text.
type Code string

// The error codes. An error without a code counts as CodeInternal.
const (
	CodeInvalid         Code = "invalid"
	CodeNotFound        Code = "not_found"
	CodeConflict        Code = "conflict"
	CodeUnauthenticated Code = "unauthenticated"
	CodeForbidden       Code = "forbidden"
	CodeRateLimited     Code = "rate_limited"
	CodeQuota           Code = "quota"
	CodeUnavailable     Code = "unavailable"
	CodeInternal        Code = "internal"
)

// FieldError names one bad input field. Field is a path in the request's
// JSON names, such as "label", "props.name" or "edges[3].valid_to".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one domain error type. Message is safe to show to the caller;
// Err, if set, is the underlying cause and is for logs only.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error
}

// Error implements error. It includes the cause, so it belongs in logs; use
// ErrorMessage for text that may reach a client.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the code and a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a CodeInvalid error naming one field.
func Invalid(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: CodeInvalid, Message: "invalid " + field, Fields: []FieldError{{Field: field, Message: msg}}}
}

// NotFound returns a CodeNotFound error for a kind of record ("node", "edge",
// "tenant"). It never says whether the record exists elsewhere, so a record of
// another tenant answers exactly like a missing one.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err: the Message of its
// *Error, or a generic text for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" && e.Code != CodeInternal {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the field errors of err's *Error, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// prefixFields returns a copy of err whose field paths start with prefix.
// Errors that are not *Error are returned unchanged.
func prefixFields(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Fields = make([]FieldError, len(e.Fields))
	for i, f := range e.Fields {
		c.Fields[i] = FieldError{Field: joinField(prefix, f.Field), Message: f.Message}
	}
	if len(c.Fields) > 0 {
		c.Message = "invalid " + c.Fields[0].Field
	}
	return &c
}

func joinField(prefix, field string) string {
	if prefix == "" {
		return field
	}
	if field == "" {
		return prefix
	}
	if strings.HasPrefix(field, "[") {
		return prefix + field
	}
	return prefix + "." + field
}
