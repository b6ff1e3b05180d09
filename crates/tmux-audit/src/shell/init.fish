# tmux-audit: mark each command line in the pane's output, for the recorder (OSC 133 and OSC 7).
# From `tmux-audit shell-init fish`; add `tmux-audit shell-init fish | source` to config.fish.
if set -q TMUX; and not set -q __tmux_audit_marks
    set -g __tmux_audit_marks 1
    function __tmux_audit_enc
        string escape --style=url -- $argv[1]
    end
    function __tmux_audit_preexec --on-event fish_preexec
        printf '\e]133;C;cmdline_url=%s\a\e]7;file://%s%s\a' (__tmux_audit_enc "$argv[1]") "$hostname" (__tmux_audit_enc "$PWD")
    end
    function __tmux_audit_postexec --on-event fish_postexec
        printf '\e]133;D;%s\a' $status
    end
end
