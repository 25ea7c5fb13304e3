# SPDX-License-Identifier: ISC
# python/: included by the top Makefile.am. The client package goes in as
# plain .py files under $(procdpythondir)/procd (configure picks the
# folder: Debian's dist-packages for --prefix=/usr, else under the
# prefix); byte-compiling is left to the installed system (dh_python3, or
# Python itself on first import). pyproject.toml and README.md ship for
# pip installs from the tarball.
procdpkgdir = $(procdpythondir)/procd
dist_procdpkg_DATA = \
	python/procd/__init__.py \
	python/procd/_target.py \
	python/procd/address.py \
	python/procd/aio.py \
	python/procd/client.py \
	python/procd/errors.py \
	python/procd/job.py \
	python/procd/resume.py \
	python/procd/wire.py
EXTRA_DIST += python/pyproject.toml python/README.md
