package shard

import (
	"testing"
	"time"
)

// keyOwnedBy returns a key that view v gives to member.
func keyOwnedBy(t *testing.T, v view, member string) string {
	t.Helper()
	for _, k := range testKeys(100) {
		if v.assigns(k, member) {
			return k
		}
	}
	t.Fatalf("no key for %s in %v", member, v)
	return ""
}

// A key is ours only if every view we claim by gives it to us and no
// other live member's published view gives it to that member.
func TestAssignmentOwns(t *testing.T) {
	ab, abc := view{"a", "b"}, view{"a", "b", "c"}
	stays := keyOwnedBy(t, abc, "a") // a's under both views
	var leaves string                // a's under ab, c's under abc
	for _, k := range testKeys(100) {
		if ab.assigns(k, "a") && abc.assigns(k, "c") {
			leaves = k
			break
		}
	}
	cases := []struct {
		name string
		a    *Assignment
		key  string
		want bool
	}{
		{"nil", nil, stays, false},
		{"no claims", &Assignment{self: "a"}, stays, false},
		{"owned", &Assignment{self: "a", claims: []view{abc}}, stays, true},
		{"in a change, owned by both views", &Assignment{self: "a", claims: []view{ab, abc}}, stays, true},
		{"in a change, lost by the new view", &Assignment{self: "a", claims: []view{ab, abc}}, leaves, false},
		{"claimed by another's published view", &Assignment{self: "a", claims: []view{abc}, others: map[string]view{"b": {"b"}}}, stays, false},
		{"another's view gives it to a third", &Assignment{self: "a", claims: []view{abc}, others: map[string]view{"b": ab}}, stays, true},
		{"a view that does not list us claims nothing", &Assignment{self: "a", claims: []view{{"b"}}}, stays, false},
	}
	for _, tc := range cases {
		if got := tc.a.Owns(tc.key); got != tc.want {
			t.Errorf("%s: Owns = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// set returns only once the work on a key it takes away is over; work on
// keys that stay does not hold it up, and no new work on a lost key
// starts.
func TestGateWaitsForWorkOnLostKeys(t *testing.T) {
	abc := view{"a", "b", "c"}
	g := newGate()
	g.set(&Assignment{self: "a", claims: []view{abc}})
	key := keyOwnedBy(t, abc, "a")
	end, ok := g.begin(key)
	if !ok {
		t.Fatal("begin refused an owned key")
	}

	done := make(chan struct{})
	go func() {
		g.set(&Assignment{self: "a"})
		close(done)
	}()
	// The new assignment is installed before set waits: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for g.assignment().Owns(key) {
		if time.Now().After(deadline) {
			t.Fatal("the new assignment was not installed")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := g.begin(key); ok {
		t.Fatal("begin allowed a key the new assignment does not own")
	}
	select {
	case <-done:
		t.Fatal("set returned while work on a lost key was still running")
	default:
	}
	end()
	<-done

	// Work on a key that stays does not hold up a change.
	g.set(&Assignment{self: "a", claims: []view{abc}})
	end2, _ := g.begin(key)
	g.set(&Assignment{self: "a", claims: []view{abc, abc}})
	end2()
}
