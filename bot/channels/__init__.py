"""Channel adapters: translate a wire format to Inbound/Outbound and back, nothing else."""
