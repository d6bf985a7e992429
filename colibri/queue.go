package colibri

import "errors"

// Requests for one meeting-id run strictly in arrival order on that meeting's worker goroutine;
// different meetings run in parallel. A worker exists only while its meeting has queued work.

var (
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("colibri: handler closed")
	// errQueueFull is returned when a meeting has Limits.MaxQueue requests waiting.
	errQueueFull = errors.New("colibri: too many queued requests for this meeting")
)

// job runs on the meeting's worker. closing is true when the handler is shutting down: the job
// must then only report failure, not touch the bridge.
type job func(closing bool)

type meetingQueue struct {
	jobs []job
}

// enqueue appends j to the meeting's FIFO, starting its worker if it has none.
func (h *Handler) enqueue(meetingID string, j job) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	q := h.queues[meetingID]
	if q == nil {
		q = &meetingQueue{}
		h.queues[meetingID] = q
		h.wg.Add(1)
		go h.drain(meetingID, q)
	}
	if len(q.jobs) >= h.limits.MaxQueue {
		return errQueueFull
	}
	q.jobs = append(q.jobs, j)
	return nil
}

// drain is a meeting's worker: it runs jobs in order and exits when the queue is empty.
func (h *Handler) drain(meetingID string, q *meetingQueue) {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		if len(q.jobs) == 0 {
			delete(h.queues, meetingID)
			h.mu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		closing := h.closed
		h.mu.Unlock()
		j(closing)
	}
}

// Close stops accepting requests, fails the queued ones with service-unavailable, and waits for
// every worker goroutine to exit. It does not expire conferences.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}
