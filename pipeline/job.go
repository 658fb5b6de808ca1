package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Observer is how a job tells its caller what it is doing: the command line
// draws bars and log lines from it, a Go program may ignore it (Quiet).
// Implementations must be safe for concurrent use.
type Observer interface {
	// Phase starts showing one phase of a job ("export", "write", "import")
	// counting unit ("tickets", "rows"); total 0 means not known yet.
	Phase(name, unit string, total int64) Progress
	// Logf reports one line worth a reader's attention (the state folder, a
	// resumed run); never a secret.
	Logf(format string, args ...any)
}

// Progress is the counter of one phase.
type Progress interface {
	SetTotal(n int64)
	Add(n int)
	Finish()
}

// AddDone records n units that an earlier run of the job did (pages held,
// rows written before an interruption): counted, but not in the rate, so
// that a resumed run's ETA is that of its own work. A Progress may have an
// AddDone(n int) method for that; otherwise they are added as done now.
func AddDone(p Progress, n int) {
	if r, ok := p.(interface{ AddDone(int) }); ok {
		r.AddDone(n)
		return
	}
	p.Add(n)
}

// AddFailed records n units done that failed (rejected rows), so that the
// progress can show the failures as they come. A Progress may have an
// AddFailed(n int) method for that; otherwise they are added as done.
func AddFailed(p Progress, n int) {
	if r, ok := p.(interface{ AddFailed(int) }); ok {
		r.AddFailed(n)
		return
	}
	p.Add(n)
}

// Approx is a duration as a reader wants it: "under a second", "42s", "3m5s".
func Approx(d time.Duration) string {
	if d < time.Second {
		return "under a second"
	}
	return d.Round(time.Second).String()
}

// Quiet is an Observer that shows nothing.
type Quiet struct{}

func (Quiet) Phase(string, string, int64) Progress { return quietProgress{} }
func (Quiet) Logf(string, ...any)                  {}

type quietProgress struct{}

func (quietProgress) SetTotal(int64) {}
func (quietProgress) Add(int)        {}
func (quietProgress) Finish()        {}

// Report is what a job did: the counts every command's summary shows, the
// notes a reader of the counts must see, and named counts particular to the
// job. The caller adds the request counts and the time.
type Report struct {
	State   string   `json:"state_dir,omitempty"`
	Outputs []string `json:"outputs,omitempty"`
	Results string   `json:"results_dir,omitempty"`
	Read    int64    `json:"rows_read"`
	Written int64    `json:"rows_written"`
	Failed  int64    `json:"rows_failed"`
	Skipped int64    `json:"rows_skipped"`
	// Notes say what a reader of the counts must know: duplicates dropped,
	// tickets that may be missing, values kept raw, outcomes unknown.
	Notes []string `json:"notes,omitempty"`
	// Facts are named counts particular to the job.
	Facts map[string]int64 `json:"facts,omitempty"`
}

// Note adds a line to the report's notes.
func (r *Report) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// SetFact records a named count.
func (r *Report) SetFact(name string, n int64) {
	if r.Facts == nil {
		r.Facts = map[string]int64{}
	}
	r.Facts[name] = n
}

// ConfigError is a job refused before it began for a reason the user must
// fix in the command or its files: an unreadable input, a column the catalog
// does not know, a state folder that belongs to another job. The command line
// exits 2 on it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// ResumableError is a run that failed with its state kept: the same call
// again resumes it from State (an interruption, a network that went away, a
// server error). A job returns it only when a rerun would go on; a refusal
// a rerun would meet again (a wrong filter, a drifted schema) is returned
// as it is. The command line exits 1 on it, naming the folder.
type ResumableError struct {
	Err   error
	State string // the state folder a rerun resumes from
}

func (e *ResumableError) Error() string {
	return fmt.Sprintf("%v (run the same command again to resume from %s)", e.Err, e.State)
}
func (e *ResumableError) Unwrap() error { return e.Err }

// Configf returns a *ConfigError with a formatted message.
func Configf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

// StateDir names the folder that holds a job's resumable state: a hidden
// .udesk-etl folder beside the job's main file (the first output of an
// export, the input of an import), with one subfolder per distinct job.
// keyParts identify the job (tenant, selector, operation, input...); the
// secret is never one of them.
func StateDir(besideFile, kind string, keyParts ...string) string {
	base := "."
	if besideFile != "" && besideFile != "-" {
		base = filepath.Dir(besideFile)
	}
	name := kind + "-" + JobKey(keyParts...)[:12]
	if besideFile != "" && besideFile != "-" {
		stem := strings.TrimSuffix(filepath.Base(besideFile), filepath.Ext(besideFile))
		name = stem + "." + name
	}
	return filepath.Join(base, ".udesk-etl", name)
}

// JobKey is the SHA-256 (hex) of a job's key parts: what StateDir names a
// state folder by (its first 12 digits), and a Registry's key.
func JobKey(keyParts ...string) string {
	h := sha256.New()
	for _, p := range keyParts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// UserRegistry is the folder where this user's jobs are registered by their
// key (see Registry): udesk-etl/jobs in the user's cache folder, "" when
// the system names none.
func UserRegistry() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "udesk-etl", "jobs")
}

// Registry records where the state folder of each job is, by the job's key,
// so that a job whose identity is its contents (an import: the same rows under
// another name, in another folder) finds the state it left elsewhere. Each
// entry is a file named by the key holding the state folder's path. The
// zero Registry ("") records nothing.
type Registry string

// Lookup is the state folder registered for key, "" when none is, or when
// the one registered is gone.
func (r Registry) Lookup(key string) string {
	if r == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(string(r), key))
	if err != nil {
		return ""
	}
	dir := strings.TrimSpace(string(b))
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || !filepath.IsAbs(dir) {
		return ""
	}
	return dir
}

// Register records dir as key's state folder.
func (r Registry) Register(key, dir string) error {
	if r == "" {
		return nil
	}
	if err := os.MkdirAll(string(r), 0o700); err != nil {
		return fmt.Errorf("job registry: %w", err)
	}
	return WriteFileAtomic(filepath.Join(string(r), key), []byte(AbsPath(dir)+"\n"), 0o600)
}

// TenantKey is a tenant's URL in the one spelling state keys use, so that
// the same tenant written two ways is the same job: scheme and host in lower
// case, the scheme's default port dropped, trailing slashes dropped, and no
// credentials, query or fragment (a secret never enters a state key).
func TenantKey(rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.ToLower(strings.TrimSpace(rawURL)), "/")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		host = net.JoinHostPort(host, port)
		host = strings.TrimSuffix(host, ":")
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}

// RealPath is the path made absolute with its symbolic links resolved, for
// use in a state key and to place a state folder, so that the same file
// reached two ways (a relative path, a symlinked folder) is the same job. A
// file that does not exist yet (an output) has its folder resolved.
func RealPath(p string) string {
	if p == "" || p == "-" {
		return p
	}
	p = AbsPath(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		return filepath.Join(d, filepath.Base(p))
	}
	return p
}

// AbsPath is the path made absolute for use in a state key, so that the same
// file named two ways resumes the same job.
func AbsPath(p string) string {
	if p == "" || p == "-" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// MakeStateDir creates a state folder (and the folders above it that are
// missing) readable by its owner only, whatever the umask, and makes its
// creation durable (the parent folder is fsynced).
func MakeStateDir(dir string) error {
	// top is the highest folder MkdirAll creates: every folder from its
	// parent down to dir's parent gains an entry to make durable.
	top := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		top = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// A folder an older release made, or one made under an odd umask.
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if top == "" {
		return nil
	}
	for d := filepath.Dir(filepath.Clean(dir)); ; d = filepath.Dir(d) {
		if err := SyncDir(d); err != nil {
			return err
		}
		if d == filepath.Dir(top) {
			return nil
		}
	}
}

// refuseSymlink refuses a state folder that is a symbolic link: a fresh start
// empties the state folder and makes it its owner's only, which must never
// happen to the folder the link points to.
func refuseSymlink(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	to, _ := os.Readlink(dir)
	return Configf("%s is a symbolic link (to %s): a state folder is emptied by --fresh and made private, so a link is never followed; remove the link and the job makes a folder of its own", dir, to)
}
