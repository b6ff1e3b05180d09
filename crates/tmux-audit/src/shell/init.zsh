# tmux-audit: mark each command line in the pane's output, for the recorder (OSC 133 and OSC 7).
# From `tmux-audit shell-init zsh`; add `eval "$(tmux-audit shell-init zsh)"` to ~/.zshrc.
if [[ -n ${TMUX:-} && -z ${__tmux_audit_marks:-} ]]; then
    __tmux_audit_marks=1
    __tmux_audit_enc() {
        emulate -L zsh
        setopt no_multibyte
        local s=$1 out= c i
        for (( i = 1; i <= ${#s}; i++ )); do
            c=${s[i]}
            case $c in
                ([a-zA-Z0-9.~_/-]) out+=$c ;;
                (*) out+=$(printf '%%%02X' "'$c") ;;
            esac
        done
        print -rn -- $out
    }
    __tmux_audit_preexec() {
        printf '\033]133;C;cmdline_url=%s\007\033]7;file://%s%s\007' \
            "$(__tmux_audit_enc "$1")" "${HOST:-}" "$(__tmux_audit_enc "$PWD")"
    }
    __tmux_audit_precmd() {
        local s=$?
        printf '\033]133;D;%s\007' $s
    }
    autoload -Uz add-zsh-hook
    add-zsh-hook preexec __tmux_audit_preexec
    add-zsh-hook precmd __tmux_audit_precmd
fi
