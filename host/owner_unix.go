package host

import (
	"os"
	"syscall"
)

// chownLike gives path the owner and group of info, where it can.
func chownLike(path string, info os.FileInfo) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(path, int(st.Uid), int(st.Gid))
	}
}
