mod externalsecrets;
mod harness;
mod servers;
