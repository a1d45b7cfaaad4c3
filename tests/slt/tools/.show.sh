#!/bin/sh
# debug helper (not part of suite): print "header => row" for a completed file
grep -v '^$' "$1" | awk '/^----/{p=1;next} /^(query|statement)/{p=0; h=$0; next} /^[A-Z]/{if(!p) h=h" | "$0} p{print h " => " $0}'
