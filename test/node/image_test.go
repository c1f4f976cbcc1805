package node

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

// TestImageMatchesDockerfile checks that the image `make image` builds and
// the Dockerfile describe the same image: the same entrypoint, the same
// user, the binary where the Dockerfile copies it, and that binary's
// version stamped in the image's label.
func TestImageMatchesDockerfile(t *testing.T) {
	docker := parseDockerfile(t, "../../Dockerfile")
	archive := filepath.Join(binDir(t), "images", "mydemo-controller.tar")
	img := readOCIArchive(t, archive)

	if got, want := img.config.Config.Entrypoint, docker.entrypoint; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entrypoint: image %q, Dockerfile %q", got, want)
	}
	if got, want := img.config.Config.User, docker.user; got != want {
		t.Errorf("user: image %q, Dockerfile %q", got, want)
	}
	bin, ok := img.files[strings.TrimPrefix(docker.binary, "/")]
	if !ok {
		t.Fatalf("the image has no %s (where the Dockerfile copies the binary); files: %v", docker.binary, keys(img.files))
	}
	if bin.mode&0o111 == 0 {
		t.Errorf("%s is not executable in the image (mode %o)", docker.binary, bin.mode)
	}
	// The Dockerfile's base image has the nonroot user; so must ours.
	if passwd := string(img.files["etc/passwd"].data); !strings.Contains(passwd, ":65532:65532:") {
		t.Errorf("/etc/passwd has no user 65532:65532:\n%s", passwd)
	}

	// Run the binary from the image: its version is the label's and that
	// of bin/mydemo-controller, which the Dockerfile would build from the
	// same sources.
	extracted := filepath.Join(t.TempDir(), "mydemo-controller")
	if err := os.WriteFile(extracted, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	inImage := runVersion(t, extracted)
	controller, err := framework.ControllerBinary()
	if err != nil {
		t.Fatal(err)
	}
	built := runVersion(t, controller)
	if inImage != built {
		t.Errorf("binary in the image says %q, bin/mydemo-controller says %q", inImage, built)
	}
	label := img.config.Config.Labels["org.opencontainers.image.version"]
	if label == "" || !strings.Contains(inImage, label) {
		t.Errorf("image label org.opencontainers.image.version %q does not match the binary's version %q", label, inImage)
	}
}

// binDir is framework.BinDir for a test.
func binDir(t *testing.T) string {
	t.Helper()
	dir, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func runVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dockerfile is what the final stage of the Dockerfile says.
type dockerfile struct {
	entrypoint []string
	user       string
	binary     string // destination of the COPY --from=build
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			d = dockerfile{} // only the last stage counts
		case "USER":
			d.user = fields[1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(sc.Text(), fields[0]))), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT in %s is not in exec form: %v", path, err)
			}
		case "COPY":
			if strings.HasPrefix(fields[1], "--from=") {
				d.binary = fields[len(fields)-1]
			}
		}
	}
	if d.user == "" || len(d.entrypoint) == 0 || d.binary == "" {
		t.Fatalf("%s: final stage lacks USER, ENTRYPOINT or COPY --from: %+v", path, d)
	}
	return d
}

type imageFile struct {
	mode int64
	data []byte
}

type ociImage struct {
	config struct {
		Config struct {
			Entrypoint []string          `json:"Entrypoint"`
			User       string            `json:"User"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
	}
	files map[string]imageFile
}

// readOCIArchive reads an OCI image layout tar with one image: its config
// and the files of all its layers.
func readOCIArchive(t *testing.T, path string) ociImage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run `make image`)", err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		blobs[h.Name] = data
	}
	blob := func(digest string) []byte {
		b, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
		if !ok {
			t.Fatalf("%s: missing blob %s", path, digest)
		}
		return b
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) == 0 {
		t.Fatalf("%s: bad index.json: %v", path, err)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var img ociImage
	if err := json.Unmarshal(blob(manifest.Config.Digest), &img.config); err != nil {
		t.Fatal(err)
	}
	img.files = map[string]imageFile{}
	for _, l := range manifest.Layers {
		var r io.Reader = bytes.NewReader(blob(l.Digest))
		if strings.HasSuffix(l.MediaType, "gzip") {
			gz, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		lt := tar.NewReader(r)
		for {
			h, err := lt.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(fmt.Errorf("layer %s: %w", l.Digest, err))
			}
			data, _ := io.ReadAll(lt)
			img.files[strings.TrimSuffix(h.Name, "/")] = imageFile{mode: h.Mode, data: data}
		}
	}
	return img
}

func keys(m map[string]imageFile) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
