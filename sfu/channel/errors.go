package channel

import "errors"

// Errors returned (wrapped) by Parse and WithFrom; test with errors.Is.
var (
	// ErrTooLarge: the message is longer than MaxMessageSize.
	ErrTooLarge = errors.New("bridge channel message too large")
	// ErrTooDeep: the JSON nests objects/arrays deeper than MaxDepth.
	ErrTooDeep = errors.New("bridge channel message nested too deeply")
	// ErrMalformed: not a JSON object with one string "colibriClass", invalid UTF-8, or a known
	// class whose fields have the wrong type or an out-of-range value.
	ErrMalformed = errors.New("malformed bridge channel message")
	// ErrUnknownClass: a well-formed message whose colibriClass this package does not know.
	ErrUnknownClass = errors.New("unknown bridge channel message class")
)

// DropReason maps an error from Parse to a short label for a drop counter ("too_large",
// "too_deep", "malformed", "unknown_class"), or "" for nil and "other" for anything else.
func DropReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrTooDeep):
		return "too_deep"
	case errors.Is(err, ErrUnknownClass):
		return "unknown_class"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	default:
		return "other"
	}
}
