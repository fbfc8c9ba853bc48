mod harness;
mod servers;
