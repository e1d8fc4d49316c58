// Package deploy holds the deployment examples that ship with idlink; this
// test decodes them as Kubernetes and systemd will, so that what ships runs.
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/idlinkhq/idlink/internal/config"
)

// TestKubernetesCronJob decodes every document of the manifest strictly
// against the Kubernetes API types (an unknown or misplaced field fails),
// loads the ConfigMap's idlink.yaml with idlink's own loader, and checks
// that the pod can run as shipped: non-root with the image's user, secrets
// readable by it, a read-only root file system, and an image the Dockerfile
// builds (not :latest).
func TestKubernetesCronJob(t *testing.T) {
	raw, err := os.ReadFile("kubernetes-cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cron *batchv1.CronJob
	var cm *corev1.ConfigMap
	for i, doc := range strings.Split(string(raw), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		switch meta.Kind {
		case "CronJob":
			cron = &batchv1.CronJob{}
			if err := yaml.UnmarshalStrict([]byte(doc), cron); err != nil {
				t.Fatalf("CronJob does not decode strictly: %v", err)
			}
		case "ConfigMap":
			cm = &corev1.ConfigMap{}
			if err := yaml.UnmarshalStrict([]byte(doc), cm); err != nil {
				t.Fatalf("ConfigMap does not decode strictly: %v", err)
			}
		default:
			t.Fatalf("document %d: unexpected kind %q", i+1, meta.Kind)
		}
	}
	if cron == nil || cm == nil {
		t.Fatal("the manifest needs a ConfigMap and a CronJob")
	}

	// The configuration as shipped loads (secrets come from mounted files).
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idlink.yaml")
	if err := os.WriteFile(cfgFile, []byte(cm.Data["idlink.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	shipped := strings.ReplaceAll(cm.Data["idlink.yaml"], "/var/run/secrets/idlink/salesforce-client-secret", secret)
	os.WriteFile(cfgFile, []byte(shipped), 0o600)
	if _, err := config.Load(cfgFile, func(string) string { return "" }); err != nil {
		t.Errorf("the ConfigMap's idlink.yaml does not load: %v", err)
	}

	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || psc.FSGroup == nil {
		t.Fatalf("pod securityContext %+v: want runAsNonRoot, runAsUser and fsGroup", psc)
	}
	uid := imageUser(t)
	if *psc.RunAsUser != uid {
		t.Errorf("runAsUser %d, but the Dockerfile's USER is %d", *psc.RunAsUser, uid)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		t.Errorf("image %q: pin the tag of an image built from the Dockerfile", c.Image)
	}
	csc := c.SecurityContext
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext %+v: want a read-only root and no privilege escalation", csc)
	}
	// Every mounted secret is readable by the pod's user: by owner when it
	// runs as root's default owner (never here), by group through fsGroup.
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		mode := int32(0o644) // Kubernetes' default
		if v.Secret.DefaultMode != nil {
			mode = *v.Secret.DefaultMode
		}
		if mode&0o040 == 0 {
			t.Errorf("secret volume %s has mode %#o: files belong to root with group fsGroup %d, so the non-root process needs group read (0440)", v.Name, mode, *psc.FSGroup)
		}
	}
	var memLimit string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			if e.ValueFrom != nil {
				t.Errorf("GOMEMLIMIT comes from %+v: a limit equal to the container's lets the process reach it; set a value below limits.memory", e.ValueFrom)
			}
			memLimit = e.Value
		}
	}
	checkMemoryLimit(t, "the CronJob", memLimit, c.Resources.Limits.Memory().Value())
	if pod.RestartPolicy != corev1.RestartPolicyNever || cron.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("restartPolicy %s, concurrencyPolicy %s: want Never and Forbid", pod.RestartPolicy, cron.Spec.ConcurrencyPolicy)
	}
}

// imageUser is the numeric USER of the repository's Dockerfile.
func imageUser(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatalf("the CronJob's image comes from the Dockerfile at the repository root: %v", err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("the Dockerfile sets no numeric USER: the image must not run as root")
	}
	uid, _ := strconv.ParseInt(m[1], 10, 64)
	return uid
}

// TestSystemdUnit checks the hardening the README quotes is in the unit.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("idlink.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=idlink", "NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "StateDirectory=idlink"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("idlink.service lacks %q", want)
		}
	}
	memMax := regexp.MustCompile(`(?m)^MemoryMax=(\d+)G$`).FindStringSubmatch(string(raw))
	goLimit := regexp.MustCompile(`(?m)^Environment=GOMEMLIMIT=(\S+)$`).FindStringSubmatch(string(raw))
	if memMax == nil || goLimit == nil {
		t.Fatal("idlink.service needs MemoryMax=<n>G and Environment=GOMEMLIMIT=<below it>")
	}
	gib, _ := strconv.ParseInt(memMax[1], 10, 64)
	checkMemoryLimit(t, "idlink.service", goLimit[1], gib<<30)
}

// checkMemoryLimit checks that a GOMEMLIMIT value parses as the Go runtime
// reads it (a number with B, KiB, MiB, GiB or TiB) and lies between half and
// 95 % of the memory the process is given: below it Go would collect without
// end, at it the process reaches its limit before Go collects harder.
func checkMemoryLimit(t *testing.T, where, value string, limit int64) {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(value)
	if m == nil {
		t.Errorf("%s: GOMEMLIMIT %q is not a number of bytes with a unit Go reads (B, KiB, MiB, GiB, TiB)", where, value)
		return
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	n <<= map[string]int{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	if limit <= 0 || n > limit*95/100 || n < limit/2 {
		t.Errorf("%s: GOMEMLIMIT %s (%d bytes) against a memory limit of %d bytes: want between half and 95 %% of it", where, value, n, limit)
	}
}
