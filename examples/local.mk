# SPDX-License-Identifier: ISC
# examples/: included by the top Makefile.am. The multiprocessing tutorial
# three ways (multiprocessing, the Python client, procctl), shipped in the
# tarball and installed as documentation; tests/integration/test_examples.py
# runs them.
examplesdir = $(docdir)/examples
dist_examples_DATA = \
	examples/README.md \
	examples/showlogs.py \
	examples/sing_dance_mp.py \
	examples/sing_dance_procd.py \
	examples/sing_dance_procctl.sh \
	examples/arguments_mp.py \
	examples/arguments_procd.py \
	examples/arguments_procctl.sh \
	examples/join_mp.py \
	examples/join_procd.py \
	examples/join_procctl.sh \
	examples/daemon_mp.py \
	examples/daemon_procd.py \
	examples/daemon_procctl.sh
