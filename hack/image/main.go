// Command image writes an OCI image archive (an OCI image layout in a tar
// file) holding one static binary as its entrypoint, the passwd and group
// entries of a non-root user, and nothing else: the same shape as an image
// built FROM gcr.io/distroless/static:nonroot, but built without Docker and
// without pulling anything.
//
//	go run . -binary ../../bin/mydemo-controller -path /mydemo-controller \
//	  -ref crddemo/mydemo-controller:v1.0.0 -version v1.0.0 -out image.tar
//
// `ctr images import` (containerd) and `docker load` read the archive.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refs collects repeated -ref flags.
type refs []string

func (r *refs) String() string     { return strings.Join(*r, ",") }
func (r *refs) Set(v string) error { *r = append(*r, v); return nil }

// spec is what goes into one image.
type spec struct {
	binary  string // file on disk
	path    string // where it lives in the image
	user    string // uid:gid
	version string // org.opencontainers.image.version label
	refs    []string
}

func main() {
	var s spec
	var r refs
	var out string
	flag.StringVar(&s.binary, "binary", "", "static binary to put into the image (required)")
	flag.StringVar(&s.path, "path", "", "absolute path of the binary inside the image, also the entrypoint (required)")
	flag.StringVar(&s.user, "user", "65532:65532", "uid:gid the image runs as")
	flag.StringVar(&s.version, "version", "", "value of the org.opencontainers.image.version label")
	flag.Var(&r, "ref", "image reference to record in the archive (repeatable, at least one)")
	flag.StringVar(&out, "out", "", "archive to write (required)")
	flag.Parse()
	s.refs = r
	if err := run(s, out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(s spec, out string) error {
	if s.binary == "" || s.path == "" || out == "" || len(s.refs) == 0 {
		return errors.New("-binary, -path, -ref and -out are required")
	}
	if !strings.HasPrefix(s.path, "/") {
		return fmt.Errorf("-path %q must be absolute", s.path)
	}
	img, err := build(s)
	if err != nil {
		return err
	}
	return writeArchive(img, s.refs, out)
}

// epoch is the creation time of every image and file: a fixed time keeps
// the image digest the same for the same binary.
var epoch = time.Unix(0, 0).UTC()

func build(s spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	uid, gid, ok := strings.Cut(s.user, ":")
	if !ok {
		return nil, fmt.Errorf("-user %q is not uid:gid", s.user)
	}
	layerTar, err := rootfs(bin, s.path, uid, gid)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "image: " + s.path},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{s.path}
	cfg.Config.User = s.user
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if s.version != "" {
		cfg.Config.Labels = map[string]string{"org.opencontainers.image.version": s.version}
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// rootfs is the single layer: the directories, passwd and group files of a
// distroless-style image and the binary.
func rootfs(bin []byte, path, uid, gid string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	// The same users distroless/static has: root and nonroot (65532), so
	// that the image runs as a named user that owns /home/nonroot.
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n", uid, gid)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%s:\n", gid)
	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755) },
		func() error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: atoi(uid), Gid: atoi(gid), ModTime: epoch, Format: tar.FormatPAX})
		},
		func() error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch, Format: tar.FormatPAX})
		},
	}
	// Parent directories of the binary, then the binary itself.
	rel := strings.TrimPrefix(path, "/")
	for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
		name := d
		steps = append(steps, func() error { return dir(name, 0o755) })
	}
	steps = append(steps, func() error { return file(rel, 0o755, bin) })
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return buf.Bytes(), nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// writeArchive writes img as an OCI image layout with one index entry per
// reference, and tars the layout into out.
func writeArchive(img v1.Image, references []string, out string) error {
	dir, err := os.MkdirTemp("", "crddemo-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	for _, ref := range references {
		full, err := fullName(ref)
		if err != nil {
			return err
		}
		// containerd names an imported image after io.containerd.image.name;
		// other tools read org.opencontainers.image.ref.name.
		err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          full,
			"org.opencontainers.image.ref.name": full,
		}))
		if err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarDir(dir, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// fullName spells a reference the way containerd stores it: a registry
// host first, "library/" for a one-part Docker Hub name, and a tag.
func fullName(ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " \t") {
		return "", fmt.Errorf("invalid image reference %q", ref)
	}
	first, _, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		ref = "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		ref = "docker.io/" + ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		ref += ":latest"
	}
	return ref, nil
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = epoch, 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
