#pragma once
// SIGINT/SIGTERM as a request to stop: long jobs poll stop_signal() between steps, finish cleanly
// (write their checkpoint) and exit 128 + signal.
namespace alexnet {

void install_stop_signals();
int stop_signal();  // 0 while none has arrived, else SIGINT or SIGTERM

}  // namespace alexnet
