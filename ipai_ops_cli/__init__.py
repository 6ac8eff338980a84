"""ops: the command line client of ipai ops (talks XML-RPC to the control plane)."""
