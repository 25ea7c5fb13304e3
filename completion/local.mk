# SPDX-License-Identifier: ISC
# completion/: included by the top Makefile.am.
# The shell completions of procctl, both thin over "procctl complete".
# zsh finds _procctl by its own name; bash-completion loads the file
# named after the command, so procctl.bash is installed as procctl,
# which a _DATA variable cannot do: install-data-local and
# uninstall-local (prerequisites only, so that other fragments may hook
# them too).
dist_zshcompletion_DATA = completion/_procctl
EXTRA_DIST += completion/procctl.bash

install-data-local: install-bashcompletion
uninstall-local: uninstall-bashcompletion

install-bashcompletion:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) '$(srcdir)/completion/procctl.bash' \
	    '$(DESTDIR)$(bashcompletiondir)/procctl'

uninstall-bashcompletion:
	rm -f '$(DESTDIR)$(bashcompletiondir)/procctl'

.PHONY: install-bashcompletion uninstall-bashcompletion
