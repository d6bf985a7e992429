package colibri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// RESTHandler returns the COLIBRI2-over-HTTP API (spec 2.8, JVB doc/rest-colibri2.md):
//
//	POST  /colibri/v2/conferences              JSON conference-modify (meeting-id in the body)
//	PATCH /colibri/v2/conferences/{meetingId}  JSON conference-modify for that meeting
//	GET   /colibri/v2/conferences[/{id}...]    501
//
// Bodies must be Content-Type: application/json (415 otherwise). Requests go through the same
// per-meeting queue as XMPP. Success is 200 with the JSON
// conference-modified. As in JVB's Conferences.java, a PATCH for an unknown meeting is 404 and
// every other COLIBRI2 error is 400 with its text; a request the handler could not run (closed,
// cancelled, queue full) or refused by a cap (resource-constraint) is 503.
// The caller mounts it (when videobridge.apis.rest.enabled) on the private HTTP server.
func (h *Handler) RESTHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /colibri/v2/conferences", h.restModify)
	mux.HandleFunc("POST /colibri/v2/conferences/{$}", h.restModify)
	mux.HandleFunc("PATCH /colibri/v2/conferences/{meetingId}", h.restModify)
	notImplemented := func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
	mux.HandleFunc("GET /colibri/v2/conferences", notImplemented)
	mux.HandleFunc("GET /colibri/v2/conferences/", notImplemented)
	return mux
}

func (h *Handler) restModify(w http.ResponseWriter, r *http.Request) {
	// JSON only: a web page can post text/plain or a form anywhere without the browser asking.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "conference-modify must be sent as Content-Type: application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.limits.MaxRequestBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request larger than %d bytes", h.limits.MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	req, err := ParseConferenceModifyJSON(body)
	if err != nil {
		http.Error(w, "malformed conference-modify JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if id := r.PathValue("meetingId"); id != "" {
		if req.MeetingID != "" && req.MeetingID != id {
			http.Error(w, "meeting-id in the body differs from the URL", http.StatusBadRequest)
			return
		}
		req.MeetingID = id
	}
	resp, err := h.Modify(r.Context(), req)
	if err != nil {
		var ce *Error
		switch {
		case errors.Is(err, ErrClosed), errors.Is(err, errQueueFull), errors.Is(err, context.Canceled),
			errors.Is(err, context.DeadlineExceeded), !errors.As(err, &ce):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case r.Method == http.MethodPatch && ce.Reason == ReasonConferenceNotFound:
			http.Error(w, ce.Text, http.StatusNotFound)
		case ce.Condition == CondResourceConstraint:
			http.Error(w, ce.Text, http.StatusServiceUnavailable)
		default:
			http.Error(w, ce.Text, http.StatusBadRequest)
		}
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "cannot encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
