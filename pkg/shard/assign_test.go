package shard

import (
	"fmt"
	"testing"
)

func testKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("ns-%d/mydemo-%d", i%7, i)
	}
	return keys
}

func shares(keys, members []string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = Owner(k, members)
	}
	return out
}

// Each of R members gets about 1/R of the keys: within 10% of it for
// 3,000 keys (the binomial standard deviation is under 3%).
func TestOwnerSpreadsEvenly(t *testing.T) {
	keys := testKeys(3000)
	for _, members := range [][]string{{"a", "b"}, {"a", "b", "c"}, {"m-1", "m-2", "m-3", "m-4", "m-5"}} {
		count := map[string]int{}
		for _, owner := range shares(keys, members) {
			count[owner]++
		}
		want := len(keys) / len(members)
		for _, m := range members {
			if c := count[m]; c < want*9/10 || c > want*11/10 {
				t.Errorf("%d members: %s owns %d keys, want %d ± 10%%", len(members), m, c, want)
			}
		}
	}
}

// A member joining takes only keys for itself, about 1/R of them; one
// leaving gives away only its own keys. A modulo over the sorted members
// would move most keys between members that stayed.
func TestOwnerMovesOnlyTheChangedMembersShare(t *testing.T) {
	keys := testKeys(3000)
	three := shares(keys, []string{"a", "b", "c"})
	four := shares(keys, []string{"a", "b", "c", "d"})
	moved := 0
	for _, k := range keys {
		if three[k] != four[k] {
			moved++
			if four[k] != "d" {
				t.Fatalf("%s moved from %s to %s when d joined", k, three[k], four[k])
			}
		}
	}
	if frac := float64(moved) / float64(len(keys)); frac < 0.2 || frac > 0.3 {
		t.Errorf("d's join moved %.2f of the keys, want about 1/4", frac)
	}
	two := shares(keys, []string{"a", "c"})
	for _, k := range keys {
		if three[k] != two[k] && three[k] != "b" {
			t.Fatalf("%s moved from %s to %s when b left", k, three[k], two[k])
		}
	}
}

// Every replica must pick the same owner whatever order it lists the
// members in.
func TestOwnerIgnoresMemberOrder(t *testing.T) {
	keys := testKeys(500)
	x, y := shares(keys, []string{"a", "b", "c"}), shares(keys, []string{"c", "a", "b"})
	for _, k := range keys {
		if x[k] != y[k] {
			t.Fatalf("%s: %s in one order, %s in another", k, x[k], y[k])
		}
	}
	if Owner("k", nil) != "" {
		t.Error("no members must give no owner")
	}
}

func TestViewRoundTrip(t *testing.T) {
	v := newView([]string{"b", "a", "b"})
	if got := parseView(v.encode()); !got.equal(view{"a", "b"}) {
		t.Errorf("round trip of %v gave %v", v, got)
	}
	if parseView("") != nil {
		t.Error("an empty annotation must be an empty view")
	}
}
