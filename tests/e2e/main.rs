mod controller;
mod deploy;
mod externalsecrets;
mod harness;
mod servers;
mod web;
