/*
 * STAND-IN for the kernel's /dev/kvm in the test guest (see README.md here). The guest runs
 * under QEMU's TCG, which emulates no VMX, so KVM cannot load there; qemu-server refuses to
 * start a VM without it ("KVM virtualisation configured, but not available"), having asked
 * /dev/kvm only for its API version (qemu-server src/PVE/QemuServer.pm kvm_version: open, then
 * ioctl KVM_GET_API_VERSION). This character device, served from user space through the
 * kernel's CUSE, answers exactly that ioctl with KVM's API version (12, which has not changed
 * since Linux 2.6.22) and refuses every other one, so nothing can mistake it for a working KVM;
 * the QEMU that would use it is itself a stand-in (kvm here).
 * Runs in the foreground (-f) as pvefb-dev-kvm.service.
 */
#define FUSE_USE_VERSION 29
#include <cuse_lowlevel.h>
#include <errno.h>
#include <stddef.h>

#define KVM_GET_API_VERSION 0xae00u
#define KVM_API_VERSION 12

static void dev_open(fuse_req_t req, struct fuse_file_info *fi)
{
	fuse_reply_open(req, fi);
}

static void dev_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
		      unsigned flags, const void *in, size_t in_size, size_t out_size)
{
	(void)arg, (void)fi, (void)flags, (void)in, (void)in_size, (void)out_size;
	if ((unsigned)cmd == KVM_GET_API_VERSION)
		fuse_reply_ioctl(req, KVM_API_VERSION, NULL, 0);
	else
		fuse_reply_err(req, ENOTTY);
}

static const struct cuse_lowlevel_ops ops = {
	.open = dev_open,
	.ioctl = dev_ioctl,
};

int main(int argc, char **argv)
{
	const char *info[] = { "DEVNAME=kvm" };
	struct cuse_info ci = {
		.dev_info_argc = 1,
		.dev_info_argv = info,
	};
	return cuse_lowlevel_main(argc, argv, &ci, &ops, NULL);
}
