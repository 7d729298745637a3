Package: pve-web-news
Description: News displayed on the admin interface
  A stand-in of Proxmox's appliance index (aplinfo-pve-9.dat) for the fixture trees:
  records in its format (pve-manager aplinfo/README.format), their checksums made up.

Package: alpine-3.22-default
Version: 20250617
Type: lxc
OS: alpine
Section: system
Maintainer: Proxmox Support Team <support@proxmox.com>
Architecture: amd64
Location: system/alpine-3.22-default_20250617_amd64.tar.xz
sha512sum: 6b1f0a3c94e2d7a85c1b0f4e3d2a9c8b7e6f5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1
Infopage: https://linuxcontainers.org
Description: LXC default image for alpine 3.22 (20250617)

Package: debian-13-standard
Version: 13.0-1
Type: lxc
OS: debian-13
Section: system
Maintainer: Proxmox Support Team <support@proxmox.com>
Architecture: amd64
Location: system/debian-13-standard_13.0-1_amd64.tar.zst
sha512sum: 0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f3a5b7c9d1e3f4a6b8c0d2e4f5a7b9c1d3e5f6a8b0c2d4e6f7a9b1c3d5e7f8a0b2c4d6e8
Infopage: https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions
Description: Debian 13 Trixie (standard)
  A small Debian Trixie system including all standard packages.

Package: debian-13-standard
Version: 13.1-2
Type: lxc
OS: debian-13
Section: system
Maintainer: Proxmox Support Team <support@proxmox.com>
Architecture: amd64
Location: system/debian-13-standard_13.1-2_amd64.tar.zst
sha512sum: 3f9a1c7e5b2d8f4a6c0e9b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e
Infopage: https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions
Description: Debian 13 Trixie (standard)
  A small Debian Trixie system including all standard packages.
