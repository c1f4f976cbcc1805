package node

import (
	"testing"
)

func TestNodeSmoke(t *testing.T) {}
