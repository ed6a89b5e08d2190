# Sourced by the other scripts: find_python 3.12 prints the path of a working interpreter of that version (on PATH,
# in pyenv's versions, or in /usr/bin and /usr/local/bin), or fails.
find_python() {
  local v=$1 p
  for p in "python$v" "$(pyenv root 2>/dev/null)/versions/$v"*/bin/"python$v" /usr/bin/"python$v" /usr/local/bin/"python$v"; do
    if [ -x "$(command -v "$p" 2>/dev/null)" ] && "$p" -c 'import sys' 2>/dev/null; then
      command -v "$p"
      return 0
    fi
  done
  return 1
}
