# tmux-audit: mark each command line in the pane's output, for the recorder (OSC 133 and OSC 7).
# From `tmux-audit shell-init bash`; add `eval "$(tmux-audit shell-init bash)"` to ~/.bashrc.
# Only inside tmux, and only once. The marks are invisible on screen.
if [ -n "${TMUX:-}" ] && [ -z "${__tmux_audit_marks:-}" ]; then
    __tmux_audit_marks=1
    __tmux_audit_history=
    # Percent-encodes $1 byte by byte: marks never carry control bytes.
    __tmux_audit_enc() {
        local LC_ALL=C s=$1 out= c i
        for ((i = 0; i < ${#s}; i++)); do
            c=${s:i:1}
            case $c in
                [a-zA-Z0-9.~_/-]) out+=$c ;;
                *) printf -v c '%%%02X' "'$c"; out+=$c ;;
            esac
        done
        printf '%s' "$out"
    }
    # Run (in PS0) after a line is read, before it runs: the line as history holds it.
    __tmux_audit_start() {
        local entry number line=
        entry=$(HISTTIMEFORMAT= builtin history 1)
        number=${entry%%[!0-9 ]*}
        number=${number// /}
        # A line history did not keep (HISTCONTROL=ignorespace) is sent empty, not guessed.
        if [ -n "$number" ] && [ "$number" != "$__tmux_audit_history" ]; then
            line=${entry#*[0-9]  }
        fi
        printf '\033]133;C;cmdline_url=%s\007\033]7;file://%s%s\007' \
            "$(__tmux_audit_enc "$line")" "${HOSTNAME:-}" "$(__tmux_audit_enc "$PWD")"
    }
    # Run before each prompt: how the line ended, and where history stands.
    __tmux_audit_end() {
        local status=$? entry
        printf '\033]133;D;%s\007' "$status"
        entry=$(HISTTIMEFORMAT= builtin history 1)
        entry=${entry%%[!0-9 ]*}
        __tmux_audit_history=${entry// /}
        return $status
    }
    PS0='$(__tmux_audit_start)'"${PS0:-}"
    PROMPT_COMMAND="__tmux_audit_end${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
fi
