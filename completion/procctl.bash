# SPDX-License-Identifier: ISC
# bash completion for procctl. procctl itself knows what may come next
# (procctl complete: commands, options, their values, the jobs of the
# running procd); this only hands it the words and maps its answer to
# COMPREPLY. Uses bash-completion's _init_completion when it is loaded,
# and works without it.

# Without bash-completion: sets words, cword and cur as
# "_init_completion -n =:" would, that is the words of COMP_WORDS joined
# again where bash split them at = or :, cur being the current one up to
# the cursor.
_procctl_words()
{
	local line=${COMP_LINE:0:COMP_POINT} i w glued

	words=() cword=0 cur=
	for ((i = 0; i <= COMP_CWORD && i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		glued=1
		if ((i == 0)) || [[ $line == [[:space:]]* ]]; then
			glued=0
			line=${line#"${line%%[![:space:]]*}"}
		fi
		w=${line:0:${#w}}	# the current word ends at the cursor
		line=${line:${#w}}
		if ((glued)) && [[ $w == [=:]* || ${words[-1]} == *[=:] ]]; then
			words[-1]+=$w
		else
			words+=("$w")
		fi
	done
	cword=$((${#words[@]} - 1))
	cur=${words[cword]}
}

# Sets COMPREPLY to what the shell completes itself: $1 is files,
# directories, commands, users or groups, $2 the start of the word
# that is not part of it (as --cwd=). The words keep that start.
_procctl_fallback()
{
	local cur=${cur#"$2"} i

	case $1 in
	files | directories)
		if declare -F _filedir >/dev/null; then
			if [[ $1 == files ]]; then _filedir; else _filedir -d; fi
		else
			compopt -o filenames 2>/dev/null
			if [[ $1 == files ]]; then
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			else
				mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			fi
		fi
		;;
	commands) mapfile -t COMPREPLY < <(compgen -c -- "$cur") ;;
	users) mapfile -t COMPREPLY < <(compgen -u -- "$cur") ;;
	groups) mapfile -t COMPREPLY < <(compgen -g -- "$cur") ;;
	esac
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=$2${COMPREPLY[i]}
	done
}

_procctl()
{
	local cur prev words cword split
	if declare -F _init_completion >/dev/null; then
		_init_completion -n =: || return
	else
		_procctl_words
	fi

	# The procctl being completed, if it was named by its path.
	local prog=procctl out line kind head brk=
	[[ ${words[0]} == */* && -x ${words[0]} ]] && prog=${words[0]}
	out=$("$prog" complete -- "${words[@]:0:cword}" "$cur" 2>/dev/null)

	COMPREPLY=()
	if [[ $out == :* ]]; then
		line=${out%%$'\n'*}
		kind=${line%%$'\t'*}
		[[ $line == *$'\t'* ]] && head=${line#*$'\t'}
		_procctl_fallback "${kind#:}" "$head"
	else
		while IFS= read -r line; do
			[[ -n $line ]] && COMPREPLY+=("${line%%$'\t'*}")
		done <<<"$out"
	fi

	# bash replaces only the part of the word after its last = or :
	# (where COMP_WORDBREAKS has them), so the candidates lose what
	# comes before.
	[[ $COMP_WORDBREAKS == *=* ]] && brk+='='
	[[ $COMP_WORDBREAKS == *:* ]] && brk+=':'
	if [[ -n $brk && $cur == *["$brk"]* ]]; then
		head=${cur%"${cur##*["$brk"]}"}
		for line in "${!COMPREPLY[@]}"; do
			COMPREPLY[line]=${COMPREPLY[line]#"$head"}
		done
	fi
}
complete -F _procctl procctl
