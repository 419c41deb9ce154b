# The exit status of a GPU job (gpu_train.sh, gpu_measure.sh), sourced by both: `worse STATUS`
# after each step, `exit "$(verdict)"` at the end. A real failure ranks above a time-out, a
# time-out above a skip: the first failed step's own status, else 124 if a step ran out of time
# (137: killed after timeout -k), else 3 if one was skipped for time, else 0.
failed=0 timed_out=0 skipped=0
worse() {
  case $1 in
    0) ;;
    3) skipped=1 ;;
    124|137) timed_out=1 ;;
    *) [ "$failed" = 0 ] && failed=$1 ;;
  esac
  return 0
}
verdict() {
  if [ "$failed" != 0 ]; then echo "$failed"; elif [ "$timed_out" = 1 ]; then echo 124
  elif [ "$skipped" = 1 ]; then echo 3; else echo 0; fi
}
