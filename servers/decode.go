package servers

// Trace decoding: what each argument of a call is, so that a trace line
// reads as strace's does (DESIGN §10). It runs only while the server is
// traced (Call.Tracing), before the answer is sent, while the caller is
// still stopped in its call: what is read from its memory is what the
// call saw. Every read is bounded, and an address that cannot be read is
// printed in hex, never fatal.
//
// Left out: struct contents on return for calls the kernel runs itself
// (CONTINUE: the trace line is written before the kernel fills them),
// the contents of iovecs, rlimits, timespecs, open_how's resolve bits by
// name, and the environment of an exec (its count only).

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// argKind says how to print one argument.
type argKind uint8

const (
	aInt         argKind = iota // signed decimal
	aHex                        // unsigned hex
	aFd                         // fd number
	aDirfd                      // fd number or AT_FDCWD
	aPath                       // NUL-terminated string in guest memory (a name)
	aStr                        // NUL-terminated string in guest memory (other text)
	aOpenFlags                  // O_*
	aOpenMode                   // mode, printed only when the flags before it create
	aMode                       // octal permission bits
	aNodeMode                   // S_IF* type and octal bits (mknod)
	aAccess                     // F_OK or R_OK|W_OK|X_OK
	aAtFlags                    // AT_*
	aCloneFlags                 // CLONE_* with the exit signal in the low byte
	aNSFlags                    // CLONE_NEW* (unshare, setns)
	aSignal                     // signal name
	aDomain                     // AF_*
	aSockType                   // SOCK_* and its flags
	aSockaddr                   // struct sockaddr, its length the next argument
	aPid                        // a pid (decimal)
	aSize                       // size_t (decimal)
	aPtr                        // a pointer: hex, NULL for 0
	aStatOut                    // struct stat filled by the call
	aStatxOut                   // struct statx filled by the call
	aArgv                       // char *const argv[]
	aEnvp                       // char *const envp[]: its count
	aResource                   // RLIMIT_*
	aMountFlags                 // MS_*
	aUmountFlags                // MNT_*, UMOUNT_NOFOLLOW
	aOpenHow                    // struct open_how
)

// decl is how one syscall's arguments print; a syscall without one
// prints its six raw arguments.
type decl []argKind

// decls covers every call a server's Table handles, and the common calls
// next to them.
var decls = map[int]decl{
	unix.SYS_OPEN:       {aPath, aOpenFlags, aOpenMode},
	unix.SYS_OPENAT:     {aDirfd, aPath, aOpenFlags, aOpenMode},
	unix.SYS_OPENAT2:    {aDirfd, aPath, aOpenHow, aSize},
	unix.SYS_CREAT:      {aPath, aMode},
	unix.SYS_ACCESS:     {aPath, aAccess},
	unix.SYS_FACCESSAT:  {aDirfd, aPath, aAccess},
	unix.SYS_FACCESSAT2: {aDirfd, aPath, aAccess, aAtFlags},
	unix.SYS_STAT:       {aPath, aStatOut},
	unix.SYS_LSTAT:      {aPath, aStatOut},
	unix.SYS_FSTAT:      {aFd, aStatOut},
	unix.SYS_NEWFSTATAT: {aDirfd, aPath, aStatOut, aAtFlags},
	unix.SYS_STATX:      {aDirfd, aPath, aAtFlags, aHex, aStatxOut},
	unix.SYS_STATFS:     {aPath, aPtr},
	unix.SYS_CHDIR:      {aPath},
	unix.SYS_CHROOT:     {aPath},
	unix.SYS_RMDIR:      {aPath},
	unix.SYS_UNLINK:     {aPath},
	unix.SYS_UNLINKAT:   {aDirfd, aPath, aAtFlags},
	unix.SYS_MKDIR:      {aPath, aMode},
	unix.SYS_MKDIRAT:    {aDirfd, aPath, aMode},
	unix.SYS_MKNOD:      {aPath, aNodeMode, aHex},
	unix.SYS_MKNODAT:    {aDirfd, aPath, aNodeMode, aHex},
	unix.SYS_CHMOD:      {aPath, aMode},
	unix.SYS_FCHMODAT:   {aDirfd, aPath, aMode},
	unix.SYS_FCHMODAT2:  {aDirfd, aPath, aMode, aAtFlags},
	unix.SYS_CHOWN:      {aPath, aInt, aInt},
	unix.SYS_LCHOWN:     {aPath, aInt, aInt},
	unix.SYS_FCHOWNAT:   {aDirfd, aPath, aInt, aInt, aAtFlags},
	unix.SYS_LINK:       {aPath, aPath},
	unix.SYS_LINKAT:     {aDirfd, aPath, aDirfd, aPath, aAtFlags},
	unix.SYS_SYMLINK:    {aPath, aPath},
	unix.SYS_SYMLINKAT:  {aPath, aDirfd, aPath},
	unix.SYS_RENAME:     {aPath, aPath},
	unix.SYS_RENAMEAT:   {aDirfd, aPath, aDirfd, aPath},
	unix.SYS_RENAMEAT2:  {aDirfd, aPath, aDirfd, aPath, aHex},
	unix.SYS_READLINK:   {aPath, aPtr, aSize},
	unix.SYS_READLINKAT: {aDirfd, aPath, aPtr, aSize},
	unix.SYS_TRUNCATE:   {aPath, aInt},
	unix.SYS_UTIME:      {aPath, aPtr},
	unix.SYS_UTIMES:     {aPath, aPtr},
	unix.SYS_FUTIMESAT:  {aDirfd, aPath, aPtr},
	unix.SYS_UTIMENSAT:  {aDirfd, aPath, aPtr, aAtFlags},
	unix.SYS_GETCWD:     {aPtr, aSize},

	unix.SYS_GETXATTR:      {aPath, aStr, aPtr, aSize},
	unix.SYS_LGETXATTR:     {aPath, aStr, aPtr, aSize},
	unix.SYS_SETXATTR:      {aPath, aStr, aPtr, aSize, aHex},
	unix.SYS_LSETXATTR:     {aPath, aStr, aPtr, aSize, aHex},
	unix.SYS_LISTXATTR:     {aPath, aPtr, aSize},
	unix.SYS_LLISTXATTR:    {aPath, aPtr, aSize},
	unix.SYS_REMOVEXATTR:   {aPath, aStr},
	unix.SYS_LREMOVEXATTR:  {aPath, aStr},
	unix.SYS_GETXATTRAT:    {aDirfd, aPath, aAtFlags, aStr, aPtr, aSize},
	unix.SYS_SETXATTRAT:    {aDirfd, aPath, aAtFlags, aStr, aPtr, aSize},
	unix.SYS_LISTXATTRAT:   {aDirfd, aPath, aAtFlags, aPtr, aSize},
	unix.SYS_REMOVEXATTRAT: {aDirfd, aPath, aAtFlags, aStr},
	unix.SYS_FILE_GETATTR:  {aDirfd, aPath, aPtr, aSize, aAtFlags},
	unix.SYS_FILE_SETATTR:  {aDirfd, aPath, aPtr, aSize, aAtFlags},

	unix.SYS_INOTIFY_ADD_WATCH: {aFd, aPath, aHex},
	unix.SYS_FANOTIFY_MARK:     {aFd, aHex, aHex, aDirfd, aPath},
	unix.SYS_NAME_TO_HANDLE_AT: {aDirfd, aPath, aPtr, aPtr, aAtFlags},
	unix.SYS_QUOTACTL:          {aHex, aPath, aInt, aPtr},

	unix.SYS_MOUNT:          {aStr, aPath, aStr, aMountFlags, aPtr},
	unix.SYS_UMOUNT2:        {aPath, aUmountFlags},
	unix.SYS_PIVOT_ROOT:     {aPath, aPath},
	unix.SYS_FSOPEN:         {aStr, aHex},
	unix.SYS_FSCONFIG:       {aFd, aInt, aStr, aPtr, aInt},
	unix.SYS_FSMOUNT:        {aFd, aHex, aHex},
	unix.SYS_FSPICK:         {aDirfd, aPath, aHex},
	unix.SYS_MOVE_MOUNT:     {aDirfd, aPath, aDirfd, aPath, aHex},
	unix.SYS_OPEN_TREE:      {aDirfd, aPath, aHex},
	unix.SYS_OPEN_TREE_ATTR: {aDirfd, aPath, aHex, aPtr, aSize},
	unix.SYS_MOUNT_SETATTR:  {aDirfd, aPath, aAtFlags, aPtr, aSize},

	unix.SYS_CLONE:       {aCloneFlags, aPtr, aPtr, aPtr, aHex},
	unix.SYS_FORK:        {},
	unix.SYS_VFORK:       {},
	unix.SYS_UNSHARE:     {aNSFlags},
	unix.SYS_SETNS:       {aFd, aNSFlags},
	unix.SYS_EXECVE:      {aPath, aArgv, aEnvp},
	unix.SYS_EXECVEAT:    {aDirfd, aPath, aArgv, aEnvp, aAtFlags},
	unix.SYS_PERSONALITY: {aHex},
	unix.SYS_PRLIMIT64:   {aPid, aResource, aPtr, aPtr},
	unix.SYS_SETRLIMIT:   {aResource, aPtr},
	unix.SYS_SETUID:      {aInt},
	unix.SYS_SETGID:      {aInt},
	unix.SYS_SETFSUID:    {aInt},
	unix.SYS_SETFSGID:    {aInt},
	unix.SYS_SETREUID:    {aInt, aInt},
	unix.SYS_SETREGID:    {aInt, aInt},
	unix.SYS_SETRESUID:   {aInt, aInt, aInt},
	unix.SYS_SETRESGID:   {aInt, aInt, aInt},
	unix.SYS_SETGROUPS:   {aSize, aPtr},
	unix.SYS_REBOOT:      {aHex, aHex, aHex, aPtr},

	unix.SYS_KILL:              {aPid, aSignal},
	unix.SYS_TKILL:             {aPid, aSignal},
	unix.SYS_TGKILL:            {aPid, aPid, aSignal},
	unix.SYS_RT_SIGQUEUEINFO:   {aPid, aSignal, aPtr},
	unix.SYS_RT_TGSIGQUEUEINFO: {aPid, aPid, aSignal, aPtr},
	unix.SYS_PIDFD_SEND_SIGNAL: {aFd, aSignal, aPtr, aHex},

	unix.SYS_SOCKET:  {aDomain, aSockType, aInt},
	unix.SYS_BIND:    {aFd, aSockaddr, aSize},
	unix.SYS_CONNECT: {aFd, aSockaddr, aSize},
	unix.SYS_LISTEN:  {aFd, aInt},
	unix.SYS_ACCEPT:  {aFd, aPtr, aPtr},
	unix.SYS_ACCEPT4: {aFd, aPtr, aPtr, aSockType},
}

// Decoded reports whether trace lines print syscall nr's arguments by
// kind (a test checks that every handled call has a decl).
func Decoded(nr int) bool { _, ok := decls[nr]; return ok }

// MaxTraceString bounds what a trace line shows of one guest string.
const MaxTraceString = 256

// decodeArgs renders each argument of c its decl names that a handler has
// not noted itself; answered says the server answered val itself (out
// structs are then filled).
func (c *Call) decodeArgs(answered bool) {
	d, ok := decls[int(c.Nr)]
	if !ok {
		return
	}
	c.nargs = len(d)
	for i, k := range d {
		if c.decoded[i] != "" {
			continue
		}
		c.decoded[i] = c.argText(i, k, answered)
	}
}

func (c *Call) argText(i int, k argKind, answered bool) string {
	v := c.Args[i]
	switch k {
	case aHex:
		return hex(v)
	case aFd, aPid:
		return strconv.Itoa(int(int32(v)))
	case aDirfd:
		if int32(v) == unix.AT_FDCWD {
			return "AT_FDCWD"
		}
		return strconv.Itoa(int(int32(v)))
	case aPath, aStr:
		return c.guestString(v)
	case aOpenFlags:
		return openFlags(v)
	case aOpenMode:
		if i > 0 && c.Args[i-1]&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) == 0 {
			return omit
		}
		return octal(v)
	case aMode:
		return octal(v)
	case aNodeMode:
		t := fileType(uint32(v))
		if t == "" {
			return octal(v)
		}
		return t + "|" + octal(v&0o7777)
	case aAccess:
		if v == 0 {
			return "F_OK"
		}
		return flags(v, accessNames)
	case aAtFlags:
		if c.Nr == unix.SYS_UNLINKAT {
			return flags(v, []flagName{{unix.AT_REMOVEDIR, "AT_REMOVEDIR"}})
		}
		return flags(v, atNames)
	case aCloneFlags:
		sig := v & 0xff
		s := flags(v&^0xff, cloneNames)
		if sig != 0 {
			if s == "0" {
				return signal(sig)
			}
			s += "|" + signal(sig)
		}
		return s
	case aNSFlags:
		return flags(v, nsNames)
	case aSignal:
		return signal(v)
	case aDomain:
		if n, ok := domainNames[v]; ok {
			return n
		}
		return strconv.FormatUint(v, 10)
	case aSockType:
		t := v &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
		s, ok := sockTypeNames[t]
		if !ok {
			s = strconv.FormatUint(t, 10)
		}
		if c.Nr == unix.SYS_ACCEPT4 {
			s = ""
		}
		for _, f := range []flagName{{unix.SOCK_NONBLOCK, "SOCK_NONBLOCK"}, {unix.SOCK_CLOEXEC, "SOCK_CLOEXEC"}} {
			if v&f.bit != 0 {
				if s != "" {
					s += "|"
				}
				s += f.name
			}
		}
		if s == "" {
			return "0"
		}
		return s
	case aSockaddr:
		if i+1 < len(c.Args) {
			return c.sockaddrText(v, int(int32(c.Args[i+1])))
		}
		return ptr(v)
	case aSize:
		return strconv.FormatUint(v, 10)
	case aPtr:
		return ptr(v)
	case aStatOut:
		if answered {
			return c.statText(v)
		}
		return ptr(v)
	case aStatxOut:
		if answered {
			return c.statxText(v)
		}
		return ptr(v)
	case aArgv:
		return c.argvText(v)
	case aEnvp:
		return c.envpText(v)
	case aResource:
		if int(v) < len(resourceNames) {
			return resourceNames[v]
		}
		return strconv.FormatUint(v, 10)
	case aMountFlags:
		return flags(v, mountNames)
	case aUmountFlags:
		return flags(v, umountNames)
	case aOpenHow:
		var b [24]byte
		if v == 0 || c.peek(v, b[:]) != len(b) {
			return ptr(v)
		}
		f := binary.LittleEndian.Uint64(b[0:])
		s := "{flags=" + openFlags(f)
		if f&(unix.O_CREAT|unix.O_TMPFILE&^unix.O_DIRECTORY) != 0 {
			s += ", mode=" + octal(binary.LittleEndian.Uint64(b[8:]))
		}
		return s + ", resolve=" + hex(binary.LittleEndian.Uint64(b[16:])) + "}"
	}
	return strconv.FormatInt(int64(v), 10)
}

// omit marks a trailing argument strace leaves out (open's mode without
// O_CREAT).
const omit = "\x00"

// peek reads up to len(buf) bytes of the caller's memory at addr, without
// failing: it returns how many it got.
func (c *Call) peek(addr uint64, buf []byte) int {
	scratch := c.s.scratch(len(buf))
	n, err := c.s.kern.ReadMem(c.Tid(), addr, scratch)
	if err != nil || n < 0 {
		return 0
	}
	copy(buf, scratch[:n])
	return n
}

// guestString reads the string at addr, at most MaxTraceString bytes of
// it, and quotes it (Quote); an address it cannot read prints in hex.
func (c *Call) guestString(addr uint64) string {
	s, ok, full := c.peekString(addr, MaxTraceString)
	if !ok {
		return ptr(addr)
	}
	q := Quote(s)
	if !full {
		q += "..."
	}
	return q
}

// peekString reads a NUL-terminated string of at most max bytes at addr:
// ok when at least one byte could be read, full when the NUL was found.
func (c *Call) peekString(addr uint64, max int) (s string, ok, full bool) {
	if addr == 0 {
		return "", false, false
	}
	var out []byte
	buf := make([]byte, pageSize)
	for len(out) < max {
		n := pageSize - int(addr%pageSize)
		if n > max-len(out) {
			n = max - len(out)
		}
		got := c.peek(addr, buf[:n])
		if j := indexNUL(buf[:got]); j >= 0 {
			return string(append(out, buf[:j]...)), true, true
		}
		out = append(out, buf[:got]...)
		if got < n {
			return string(out), len(out) > 0, false
		}
		addr += uint64(got)
	}
	return string(out), true, false
}

func indexNUL(b []byte) int {
	for i, x := range b {
		if x == 0 {
			return i
		}
	}
	return -1
}

// Quote quotes guest text strace's way: printable ASCII as it is, \n \t
// \r \" \\ escaped, every other byte as \xNN, so that what a guest wrote
// never reaches a terminal raw.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch x := s[i]; {
		case x == '"' || x == '\\':
			b.WriteByte('\\')
			b.WriteByte(x)
		case x == '\n':
			b.WriteString(`\n`)
		case x == '\t':
			b.WriteString(`\t`)
		case x == '\r':
			b.WriteString(`\r`)
		case x >= 0x20 && x < 0x7f:
			b.WriteByte(x)
		default:
			const digits = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(digits[x>>4])
			b.WriteByte(digits[x&15])
		}
	}
	b.WriteByte('"')
	return b.String()
}

// maxArgv bounds the argv entries a trace line shows.
const maxArgv = 16

func (c *Call) argvText(addr uint64) string {
	if addr == 0 {
		return "NULL"
	}
	var parts []string
	var p [8]byte
	for i := 0; ; i++ {
		if c.peek(addr+uint64(8*i), p[:]) != 8 {
			return ptr(addr)
		}
		a := binary.LittleEndian.Uint64(p[:])
		if a == 0 {
			break
		}
		if i == maxArgv {
			parts = append(parts, "...")
			break
		}
		s, ok, full := c.peekString(a, 64)
		q := ptr(a)
		if ok {
			q = Quote(s)
			if !full {
				q += "..."
			}
		}
		parts = append(parts, q)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (c *Call) envpText(addr uint64) string {
	if addr == 0 {
		return "NULL"
	}
	var p [8]byte
	n := 0
	for ; n < 4096; n++ {
		if c.peek(addr+uint64(8*n), p[:]) != 8 {
			return ptr(addr)
		}
		if binary.LittleEndian.Uint64(p[:]) == 0 {
			break
		}
	}
	return hex(addr) + " /* " + strconv.Itoa(n) + " vars */"
}

func (c *Call) sockaddrText(addr uint64, n int) string {
	if addr == 0 {
		return "NULL"
	}
	if n < 2 || n > 128 {
		return ptr(addr)
	}
	b := make([]byte, n)
	if c.peek(addr, b) != n {
		return ptr(addr)
	}
	family := binary.LittleEndian.Uint16(b)
	port := func() string { return strconv.Itoa(int(binary.BigEndian.Uint16(b[2:4]))) }
	switch {
	case family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return "{sa_family=AF_INET, sin_port=htons(" + port() + "), sin_addr=inet_addr(\"" + ip.String() + "\")}"
	case family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return "{sa_family=AF_INET6, sin6_port=htons(" + port() + "), sin6_addr=inet_pton(AF_INET6, \"" + ip.String() + "\")}"
	case family == unix.AF_UNIX:
		path := b[2:]
		if len(path) > 0 && path[0] == 0 {
			return "{sa_family=AF_UNIX, sun_path=@" + Quote(string(path[1:])) + "}"
		}
		if j := indexNUL(path); j >= 0 {
			path = path[:j]
		}
		return "{sa_family=AF_UNIX, sun_path=" + Quote(string(path)) + "}"
	}
	name, ok := domainNames[uint64(family)]
	if !ok {
		name = strconv.Itoa(int(family))
	}
	return "{sa_family=" + name + ", ...}"
}

// statText is the struct stat the server wrote at addr.
func (c *Call) statText(addr uint64) string {
	var st unix.Stat_t
	b := bytesOf(&st)
	if addr == 0 || c.peek(addr, b) != len(b) {
		return ptr(addr)
	}
	return statFields(st.Mode, st.Size, st.Uid, st.Gid, st.Rdev)
}

func (c *Call) statxText(addr uint64) string {
	var st unix.Statx_t
	b := bytesOf(&st)
	if addr == 0 || c.peek(addr, b) != len(b) {
		return ptr(addr)
	}
	return statFields(uint32(st.Mode), int64(st.Size), st.Uid, st.Gid, unix.Mkdev(st.Rdev_major, st.Rdev_minor))
}

func statFields(mode uint32, size int64, uid, gid uint32, rdev uint64) string {
	m := fileType(mode)
	if m == "" {
		m = octal(uint64(mode))
	} else {
		m += "|" + octal(uint64(mode&0o7777))
	}
	s := "{st_mode=" + m + ", st_uid=" + strconv.Itoa(int(uid)) + ", st_gid=" + strconv.Itoa(int(gid))
	if t := mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
		s += ", st_rdev=makedev(" + strconv.Itoa(int(unix.Major(rdev))) + ", " + strconv.Itoa(int(unix.Minor(rdev))) + ")"
	} else {
		s += ", st_size=" + strconv.FormatInt(size, 10)
	}
	return s + ", ...}"
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "S_IFREG"
	case unix.S_IFDIR:
		return "S_IFDIR"
	case unix.S_IFLNK:
		return "S_IFLNK"
	case unix.S_IFCHR:
		return "S_IFCHR"
	case unix.S_IFBLK:
		return "S_IFBLK"
	case unix.S_IFIFO:
		return "S_IFIFO"
	case unix.S_IFSOCK:
		return "S_IFSOCK"
	}
	return ""
}

func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

func ptr(v uint64) string {
	if v == 0 {
		return "NULL"
	}
	return hex(v)
}

func octal(v uint64) string { return "0" + strconv.FormatUint(v, 8) }

func signal(v uint64) string {
	if v == 0 || v >= 65 {
		return strconv.FormatUint(v, 10)
	}
	if n := unix.SignalName(unix.Signal(v)); n != "" {
		return n
	}
	if v >= 34 {
		return "SIGRT_" + strconv.FormatUint(v-34, 10)
	}
	return strconv.FormatUint(v, 10)
}

type flagName struct {
	bit  uint64
	name string
}

// flags names the bits of v that names has (first match wins, so a
// composite goes before its parts), the rest in hex; "0" for none.
func flags(v uint64, names []flagName) string {
	var parts []string
	for _, f := range names {
		if f.bit != 0 && v&f.bit == f.bit {
			parts = append(parts, f.name)
			v &^= f.bit
		}
	}
	if v != 0 {
		parts = append(parts, hex(v))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

func openFlags(v uint64) string {
	acc := []string{"O_RDONLY", "O_WRONLY", "O_RDWR", "0x3"}[v&unix.O_ACCMODE]
	rest := flags(v&^unix.O_ACCMODE, openNames)
	if rest == "0" {
		return acc
	}
	return acc + "|" + rest
}

var openNames = []flagName{
	{unix.O_TMPFILE, "O_TMPFILE"}, {unix.O_SYNC, "O_SYNC"},
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DSYNC, "O_DSYNC"}, {unix.O_ASYNC, "O_ASYNC"}, {unix.O_DIRECT, "O_DIRECT"},
	{0o100000, "O_LARGEFILE"}, {unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_NOATIME, "O_NOATIME"}, {unix.O_CLOEXEC, "O_CLOEXEC"}, {unix.O_PATH, "O_PATH"},
}

var accessNames = []flagName{{unix.R_OK, "R_OK"}, {unix.W_OK, "W_OK"}, {unix.X_OK, "X_OK"}}

var atNames = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"}, {unix.AT_EACCESS, "AT_EACCESS"},
	{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"}, {unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"}, {unix.AT_STATX_FORCE_SYNC, "AT_STATX_FORCE_SYNC"},
	{unix.AT_STATX_DONT_SYNC, "AT_STATX_DONT_SYNC"}, {unix.AT_RECURSIVE, "AT_RECURSIVE"},
}

var nsNames = []flagName{
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"}, {unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_FILES, "CLONE_FILES"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
}

var cloneNames = []flagName{
	{unix.CLONE_VM, "CLONE_VM"}, {unix.CLONE_FS, "CLONE_FS"}, {unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"}, {unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"}, {unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"}, {unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"}, {unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"}, {unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"}, {unix.CLONE_DETACHED, "CLONE_DETACHED"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"}, {unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"}, {unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"}, {unix.CLONE_IO, "CLONE_IO"},
}

var domainNames = map[uint64]string{
	unix.AF_UNSPEC: "AF_UNSPEC", unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_VSOCK: "AF_VSOCK", unix.AF_ALG: "AF_ALG",
}

var sockTypeNames = map[uint64]string{
	unix.SOCK_STREAM: "SOCK_STREAM", unix.SOCK_DGRAM: "SOCK_DGRAM", unix.SOCK_RAW: "SOCK_RAW",
	unix.SOCK_RDM: "SOCK_RDM", unix.SOCK_SEQPACKET: "SOCK_SEQPACKET", unix.SOCK_PACKET: "SOCK_PACKET",
}

var resourceNames = []string{"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
	"RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
	"RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"}

var mountNames = []flagName{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"}, {unix.MS_DIRSYNC, "MS_DIRSYNC"}, {unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
	{unix.MS_NOATIME, "MS_NOATIME"}, {unix.MS_NODIRATIME, "MS_NODIRATIME"}, {unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"}, {unix.MS_REC, "MS_REC"}, {unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_POSIXACL, "MS_POSIXACL"}, {unix.MS_UNBINDABLE, "MS_UNBINDABLE"}, {unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"}, {unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_I_VERSION, "MS_I_VERSION"}, {unix.MS_STRICTATIME, "MS_STRICTATIME"}, {unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

var umountNames = []flagName{
	{unix.MNT_FORCE, "MNT_FORCE"}, {unix.MNT_DETACH, "MNT_DETACH"}, {unix.MNT_EXPIRE, "MNT_EXPIRE"},
	{unix.UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"},
}
