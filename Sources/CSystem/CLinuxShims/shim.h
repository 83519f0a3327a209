// Kernel interfaces Swift's Glibc module does not expose: framebuffer ioctls, pty and termios
// details. Declarations only; no C implementation lives in this project.
#include <linux/fb.h>
#include <linux/kd.h>
#include <linux/vt.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <pty.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <errno.h>
