package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/spf13/cobra"
)

// backupsListOptions are the flags of `dcor backups list`.
type backupsListOptions struct {
	s3     bool
	s3f    s3Flags
	outDir string
}

// backupsListJSON is what backups list --json prints.
type backupsListJSON struct {
	Store   string          `json:"store"`
	Host    string          `json:"host"`
	Backups []backup.Object `json:"backups"`
}

func (a *app) backupsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "Show the encrypted backups of this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	var o backupsListOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List this host's encrypted backups, locally or in the S3 bucket",
		Long: `backups list lists the encrypted backups of this host that dcor wrote, oldest
first: date, size, kind (database or instance), whether the checksum stored
with it was checked after writing (verified), and where it is. Locally these
are the dumps under --out-dir (/data/encrypted_db_dumps); with --s3 the
objects in the bucket of off-site backups (ckan.ini's dcor_object_store.*,
the site file's backup.s3 or the AWS_* environment). Objects that dcor did
not write are not listed.`,
		Example: `  dcor backups list
  dcor backups list --s3 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBackupsList(cmd.Context(), o)
		},
	}
	f := list.Flags()
	f.BoolVar(&o.s3, "s3", false, "list the S3 bucket of off-site backups instead of the local directory")
	f.StringVar(&o.s3f.bucket, "s3-bucket", "", "the S3 `BUCKET` (default: as encrypted-database-backup --s3)")
	f.StringVar(&o.s3f.prefix, "s3-prefix", "", "the keys' `PREFIX`")
	f.StringVar(&o.outDir, "out-dir", host.EncryptedDumpsDir, "host `DIR` of the local encrypted dumps")
	cmd.AddCommand(list)
	return cmd
}

// runBackupsList is `dcor backups list`.
func (a *app) runBackupsList(ctx context.Context, o backupsListOptions) error {
	s, err := a.backupSite()
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	var st backup.Store
	if o.s3 {
		s3, err := a.s3Store(ctx, o.s3f)
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		st = s3
	} else {
		st = &backup.LocalStore{Dir: a.host().Path(o.outDir)}
	}
	hostname := s.HostnameOrDefault()
	objs, err := st.List(ctx, hostname)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("list the backups in %s: %v", st, err)}
	}
	where := st.String()
	if !o.s3 {
		where = o.outDir
		for i := range objs {
			objs[i].URL = a.host().HostPath(objs[i].URL)
		}
	}
	if a.json {
		if objs == nil {
			objs = []backup.Object{}
		}
		return a.emit(backupsListJSON{Store: where, Host: hostname, Backups: objs})
	}
	if len(objs) == 0 {
		fmt.Fprintf(a.stdout, "no backups of %s in %s\n", hostname, where)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tSIZE\tKIND\tVERIFIED\tLOCATION")
	var total int64
	for _, b := range objs {
		v := "no"
		if b.Verified {
			v = "yes"
		}
		total += b.Size
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Time.Format("2006-01-02 15:04:05"), bytesize.Format(b.Size), b.Kind, v, b.URL)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "%d %s of %s in %s, %s\n", len(objs), plural(len(objs), "backup"), hostname, where, bytesize.Format(total))
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return strings.TrimSuffix(word, "s") + "s"
}
