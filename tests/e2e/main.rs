mod controller;
mod harness;
mod servers;
