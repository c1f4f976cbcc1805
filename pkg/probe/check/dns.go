package check

// DNSSpec is the question of a DNS probe.
type DNSSpec struct {
	// Name is the name asked for, absolute (with the final dot) or not;
	// either way it is asked as is, without a search list.
	Name string
	// Type is DNSTypeA or DNSTypeAAAA.
	Type string
}

// The record types a DNS probe can ask for.
const (
	DNSTypeA    = "A"
	DNSTypeAAAA = "AAAA"
)
