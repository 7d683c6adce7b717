package cli

import (
	"testing"
	"time"
)

// TestServerBackupFlags: --backup-* default to no backups, hourly, keep 24,
// and come from MICRO_BACKUP_* like every server flag.
func TestServerBackupFlags(t *testing.T) {
	isolate(t)
	for _, k := range []string{"MICRO_BACKUP_TO", "MICRO_BACKUP_EVERY", "MICRO_BACKUP_KEEP", "MICRO_CONFIG"} {
		t.Setenv(k, "")
	}
	cfg := stubNode(t, nil)
	mustRun(t, "server")
	if cfg.BackupTo != "" || cfg.BackupEvery != time.Hour || cfg.BackupKeep != 24 {
		t.Errorf("defaults: to %q every %v keep %d", cfg.BackupTo, cfg.BackupEvery, cfg.BackupKeep)
	}
	t.Setenv("MICRO_BACKUP_TO", "s3://bucket/prefix")
	t.Setenv("MICRO_BACKUP_EVERY", "15m")
	t.Setenv("MICRO_BACKUP_KEEP", "96")
	mustRun(t, "server")
	if cfg.BackupTo != "s3://bucket/prefix" || cfg.BackupEvery != 15*time.Minute || cfg.BackupKeep != 96 {
		t.Errorf("from the environment: to %q every %v keep %d", cfg.BackupTo, cfg.BackupEvery, cfg.BackupKeep)
	}
	mustRun(t, "server", "--backup-to", "/mnt/backups", "--backup-keep", "0")
	if cfg.BackupTo != "/mnt/backups" || cfg.BackupKeep != 0 {
		t.Errorf("flags over the environment: to %q keep %d", cfg.BackupTo, cfg.BackupKeep)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 200 << 20: "200.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
