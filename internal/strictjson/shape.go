package strictjson

// Shape is what a document's schema says of a JSON value beyond the JSON
// rules: the exact keys of its objects, whether a number must fit an
// integer field, whether the value is props. The scanner checks it as it
// reads, so a bad member is refused before anything is decoded. A nil
// *Shape is free-form: any key, no rule below.
type Shape struct {
	// Members are the named members of an object. A key not in Members
	// is refused, unless Open, when Extra is its shape, or Members is nil
	// (any key, free-form).
	Members map[string]*Shape
	Open    bool
	Extra   *Shape
	Items   *Shape // the elements of an array
	Integer bool   // a number must be an int64 literal
	Props   bool   // props: free-form under the props limits
}

// member returns the shape of the member key of an object of shape sh,
// and false if sh does not allow the key.
func (sh *Shape) member(key []byte) (*Shape, bool) {
	if sh == nil {
		return nil, true
	}
	if m, ok := sh.Members[string(key)]; ok {
		return m, true
	}
	if sh.Open {
		return sh.Extra, true
	}
	return nil, sh.Members == nil
}
