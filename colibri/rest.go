package colibri

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// RESTHandler returns the COLIBRI2-over-HTTP API (spec 2.8, JVB doc/rest-colibri2.md):
//
//	POST  /colibri/v2/conferences              JSON conference-modify (meeting-id in the body)
//	PATCH /colibri/v2/conferences/{meetingId}  JSON conference-modify for that meeting
//	GET   /colibri/v2/conferences[/{id}...]    501
//
// Requests go through the same per-meeting queue as XMPP. Success is 200 with the JSON
// conference-modified; an unknown meeting is 404; other request errors are 400 with the message.
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
		status := http.StatusServiceUnavailable
		msg := err.Error()
		var ce *Error
		if errors.As(err, &ce) {
			status = ce.HTTPStatus()
			msg = ce.Text
		}
		http.Error(w, msg, status)
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
