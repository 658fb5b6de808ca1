package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	syncjob "github.com/udesk-etl/udesk-etl/jobs/sync"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// tenantJob is one tenant of a jobs file (sync --jobs): the flags of a
// single sync, as YAML keys. The secret is named (secret_env, secret_file),
// never written in the file.
type tenantJob struct {
	Name                string `yaml:"name"`
	URL                 string `yaml:"url"`
	SecretEnv           string `yaml:"secret_env"`
	SecretFile          string `yaml:"secret_file"`
	Dataset             string `yaml:"dataset"`
	Filter              int64  `yaml:"filter"`
	Agent               int64  `yaml:"agent"`
	ChangedFilter       int64  `yaml:"changed_filter"`
	FullEvery           int    `yaml:"full_every"`
	Keep                int    `yaml:"keep"`
	Schema              string `yaml:"schema"`
	Headers             string `yaml:"headers"`
	Rate                string `yaml:"rate"`
	Concurrency         int    `yaml:"concurrency"`
	LeaseTTL            string `yaml:"lease_ttl"`
	Catalog             string `yaml:"catalog"`
	Namespace           string `yaml:"namespace"`
	CatalogPasswordFile string `yaml:"catalog_password_file"`

	line int // the tenant's line in the file, for messages
}

// tenantKeys are the keys a tenant may have; defaultKeys those `defaults`
// may give every tenant (not what names one tenant: its name, dataset and
// secret).
var (
	tenantKeys = []string{"name", "url", "secret_env", "secret_file", "dataset", "filter", "agent",
		"changed_filter", "full_every", "keep", "schema", "headers", "rate", "concurrency",
		"lease_ttl", "catalog", "namespace", "catalog_password_file"}
	notDefaults = []string{"name", "dataset", "secret_env", "secret_file"}
)

// readJobsFile reads and checks a jobs file. Any mistake in it is a usage
// error naming the file, the line and the tenant: nothing runs.
func readJobsFile(path string) ([]tenantJob, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--jobs: %v", err)
	}
	jobs, err := parseJobs(b)
	if err != nil {
		return nil, usagef("--jobs %s:%v", path, err)
	}
	return jobs, nil
}

// lineError is a mistake at a line of the jobs file; its text starts with
// the line number so that the caller can put the file name before it.
func lineError(line int, format string, args ...any) error {
	return fmt.Errorf("%d: %s", line, fmt.Sprintf(format, args...))
}

func parseJobs(b []byte) ([]tenantJob, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(err)
	}
	if len(doc.Content) == 0 {
		return nil, lineError(1, "the file is empty: want a tenants: list (see 'udesk-etl sync --help')")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, lineError(root.Line, "want a mapping with defaults: and tenants:")
	}
	var defaults tenantJob
	var tenants *yaml.Node
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "defaults":
			if err := decodeTenant(v, "defaults", &defaults); err != nil {
				return nil, err
			}
		case "tenants":
			tenants = v
		default:
			return nil, lineError(k.Line, "unknown key %q: want defaults or tenants", k.Value)
		}
	}
	if tenants == nil || tenants.Kind != yaml.SequenceNode || len(tenants.Content) == 0 {
		line := root.Line
		if tenants != nil {
			line = tenants.Line
		}
		return nil, lineError(line, "want a tenants: list of at least one tenant")
	}
	var jobs []tenantJob
	names, datasets := map[string]int{}, map[string]string{}
	for i, n := range tenants.Content {
		t := defaults
		t.line = n.Line
		if err := decodeTenant(n, fmt.Sprintf("tenant %d", i+1), &t); err != nil {
			return nil, err
		}
		if err := t.check(); err != nil {
			return nil, err
		}
		if l, ok := names[t.Name]; ok {
			return nil, lineError(t.line, "tenant %q: the name is also the tenant's at line %d: want one name per tenant", t.Name, l)
		}
		names[t.Name] = t.line
		loc := syncjob.Location(t.Dataset)
		if other, ok := datasets[loc]; ok {
			return nil, lineError(t.line, "tenant %q: dataset %s is also tenant %q's: one dataset holds one tenant", t.Name, t.Dataset, other)
		}
		datasets[loc] = t.Name
		jobs = append(jobs, t)
	}
	return jobs, nil
}

// yamlError words a YAML syntax error as "LINE: message".
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, m, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return fmt.Errorf("%s: %s", n, m)
			}
		}
	}
	return fmt.Errorf("1: %s", msg)
}

// decodeTenant decodes a tenant's (or the defaults') mapping over t,
// refusing unknown keys and a secret written in the file.
func decodeTenant(n *yaml.Node, what string, t *tenantJob) error {
	if n.Kind != yaml.MappingNode {
		return lineError(n.Line, "%s: want a mapping of keys (name, url, dataset…)", what)
	}
	name := what
	for i := 0; i < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode {
			name = fmt.Sprintf("tenant %q", v.Value)
		}
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		switch {
		case k.Value == "secret":
			return lineError(k.Line, "%s: a secret: key is refused: never the secret itself; use secret_env or secret_file", name)
		case what == "defaults" && slices.Contains(notDefaults, k.Value):
			return lineError(k.Line, "defaults: %q names one tenant: give it in each tenant", k.Value)
		case !slices.Contains(tenantKeys, k.Value):
			return lineError(k.Line, "%s: unknown key %q: want one of %s", name, k.Value, strings.Join(tenantKeys, ", "))
		}
		one := yaml.Node{Kind: yaml.MappingNode, Content: n.Content[i : i+2]}
		if err := one.Decode(t); err != nil {
			return lineError(k.Line, "%s: %s: %s", name, k.Value, strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
		}
	}
	return nil
}

// check refuses a tenant without what a run needs.
func (t *tenantJob) check() error {
	name := fmt.Sprintf("tenant %q", t.Name)
	switch {
	case t.Name == "":
		return lineError(t.line, "a tenant without a name: want name: (it names the tenant in logs and the summary)")
	case strings.ContainsAny(t.Name, " \t[]\n"):
		return lineError(t.line, "%s: want a name without spaces or brackets", name)
	case t.URL == "":
		return lineError(t.line, "%s: no url: want the tenant's base URL, e.g. https://demo.udesk.cn", name)
	case !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://"):
		return lineError(t.line, "%s: url %q: want http:// or https://", name, t.URL)
	case t.Dataset == "":
		return lineError(t.line, "%s: no dataset: want a folder or s3://BUCKET/PREFIX", name)
	case t.SecretEnv == "" && t.SecretFile == "":
		return lineError(t.line, "%s: no secret: want secret_env (a variable's name) or secret_file (a file's path)", name)
	case t.SecretEnv != "" && t.SecretFile != "":
		return lineError(t.line, "%s: secret_env and secret_file: want one of them", name)
	case t.Concurrency < 0:
		return lineError(t.line, "%s: concurrency %d: want 1 or more", name, t.Concurrency)
	}
	if t.Rate != "" {
		if _, err := udesk.ParseRate(t.Rate); err != nil {
			return lineError(t.line, "%s: rate: %v", name, err)
		}
	}
	if t.LeaseTTL != "" {
		if d, err := time.ParseDuration(t.LeaseTTL); err != nil || d < time.Second {
			return lineError(t.line, "%s: lease_ttl %q: want a duration of 1s or more, e.g. 5m", name, t.LeaseTTL)
		}
	}
	if (t.Namespace != "" || t.CatalogPasswordFile != "") && t.Catalog == "" {
		return lineError(t.line, "%s: namespace and catalog_password_file need catalog", name)
	}
	return nil
}
