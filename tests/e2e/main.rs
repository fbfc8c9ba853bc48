mod controller;
mod deploy;
mod externalsecrets;
mod harness;
mod keys;
mod servers;
mod web;
