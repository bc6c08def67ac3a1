package inspect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/DCOR-dev/dcor/host"
)

const webUser = "www-data"

// checkPermissions makes sure DCOR's directories (facts §1) exist and are
// owned by www-data with mode 0755; <storage>/storage is owned by
// www-data all the way down. A chown the system refuses (containers) is a
// warning, not a failure.
func checkPermissions(env *Env) []*Finding {
	uid, gid, err := lookupUser(env.Host, webUser)
	if err != nil {
		return []*Finding{{Severity: Failure, Message: err.Error()}}
	}
	storage, _, usersDepot := env.dataPaths()
	webassets := env.iniValue("ckan.webassets.path")
	if webassets == "" {
		webassets = host.DefaultWebassets
	}
	dirs := []string{host.CondenseLockDir, storage, filepath.Join(storage, "resources"),
		usersDepot, webassets, filepath.Join(storage, "storage")}
	var out []*Finding
	for _, d := range dirs {
		out = append(out, checkDir(env, d, uid, gid)...)
	}
	out = append(out, checkTreeOwner(env, filepath.Join(storage, "storage"), uid, gid)...)
	return out
}

func checkDir(env *Env, p string, uid, gid int) []*Finding {
	local := env.Host.Path(p)
	info, err := os.Stat(local)
	if errors.Is(err, os.ErrNotExist) {
		return []*Finding{{Path: p, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("directory %s is missing; it will be created (www-data, 0755)", p),
			fix: func(tx *Tx) error {
				tx.Do("create "+p+" (www-data, 0755)", func(context.Context) error {
					if err := os.MkdirAll(local, 0o755); err != nil {
						return err
					}
					return chownWarn(local, uid, gid)
				})
				return nil
			}}}
	}
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("cannot inspect %s: %v", p, err)}}
	}
	if !info.IsDir() {
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s is not a directory: move it away", p)}}
	}
	var out []*Finding
	if st, ok := info.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != uid || int(st.Gid) != gid) {
		out = append(out, &Finding{Path: p, Severity: Drift, Fixable: true, Key: "owner",
			Current: ownerName(env.Host, int(st.Uid), int(st.Gid)), Expected: webUser + ":" + webUser,
			Message: fmt.Sprintf("%s is owned by %s, expected www-data", p, ownerName(env.Host, int(st.Uid), int(st.Gid))),
			fix: func(tx *Tx) error {
				tx.Do("chown www-data:www-data "+p, func(context.Context) error { return chownWarn(local, uid, gid) })
				return nil
			}})
	}
	if info.Mode().Perm() != 0o755 {
		out = append(out, &Finding{Path: p, Severity: Drift, Fixable: true, Key: "mode",
			Current: fmt.Sprintf("%04o", info.Mode().Perm()), Expected: "0755",
			Message: fmt.Sprintf("%s has mode %04o, expected 0755", p, info.Mode().Perm()),
			fix: func(tx *Tx) error {
				tx.Do("chmod 0755 "+p, func(context.Context) error { return os.Chmod(local, 0o755) })
				return nil
			}})
	}
	return out
}

// checkTreeOwner reports the entries below root not owned by www-data,
// as one finding (there may be thousands of uploaded images).
func checkTreeOwner(env *Env, root string, uid, gid int) []*Finding {
	local := env.Host.Path(root)
	var wrong []string
	filepath.WalkDir(local, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == local {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != uid || int(st.Gid) != gid) {
			wrong = append(wrong, path)
		}
		return nil
	})
	if len(wrong) == 0 {
		return nil
	}
	first := env.Host.HostPath(wrong[0])
	return []*Finding{{Path: root, Severity: Drift, Fixable: true, Key: "owner",
		Message: fmt.Sprintf("%d entries below %s are not owned by www-data (first: %s)", len(wrong), root, first),
		fix: func(tx *Tx) error {
			tx.Do(fmt.Sprintf("chown www-data:www-data %d entries below %s", len(wrong), root), func(context.Context) error {
				for _, p := range wrong {
					if err := chownWarn(p, uid, gid); err != nil {
						return err
					}
				}
				return nil
			})
			return nil
		}}}
}

// errChownRefused marks a chown the system does not allow.
var errChownRefused = errors.New("chown refused")

func chownWarn(p string, uid, gid int) error {
	if err := os.Lchown(p, uid, gid); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("%w: %v (in a container this is expected)", errChownRefused, err)
		}
		return err
	}
	return nil
}

// lookupUser finds a user's ids in the host's /etc/passwd (under --root)
// and falls back to this machine's user database.
func lookupUser(h host.Host, name string) (int, int, error) {
	if !h.Live() {
		if uid, gid, ok := passwdLookup(h.Path("/etc/passwd"), name); ok {
			return uid, gid, nil
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s does not exist: install nginx or create it with `adduser --system --group %s`", name, name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func passwdLookup(path, name string) (int, int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == name {
			uid, err1 := strconv.Atoi(fields[2])
			gid, err2 := strconv.Atoi(fields[3])
			return uid, gid, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}

func ownerName(h host.Host, uid, gid int) string {
	un, gn := strconv.Itoa(uid), strconv.Itoa(gid)
	if u, err := user.LookupId(un); err == nil {
		un = u.Username
	}
	if g, err := user.LookupGroupId(gn); err == nil {
		gn = g.Name
	}
	return un + ":" + gn
}
