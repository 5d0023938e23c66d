#!/bin/sh
# Entrypoint of the xnat-container image.
#
# The Container Service runs a command either with this entrypoint (override-entrypoint false:
# the command line, split into words, arrives here as "$@", e.g. "xnat-container copy ...") or
# without it (override-entrypoint true: /bin/sh -c "<command line>"). command.json's command
# lines start with "xnat-container", so both work. From a shell, "docker run IMAGE copy ..."
# also works: a first word that is not a program on PATH is an xnat-container subcommand.
set -e
if [ "$#" -eq 0 ]; then
    set -- xnat-container --help
elif [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1; then
    set -- xnat-container "$@"
fi
exec "$@"
